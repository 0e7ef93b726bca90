"""A JSONL log of every call (prompt as sent, reply, tool calls, usage, cost, latency, cache hit, error), keys redacted."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from trace_core.llm.base import LLM, Middleware
from trace_core.llm.records import Completion, Request
from trace_core.llm.redact import redact

__all__ = ["LogLLM"]


class LogLLM(Middleware):
    """Appends one JSON line per call to ``path``; API keys and ``Authorization`` values are redacted.

    Failed calls are logged too (with the error's type and message), then re-raised.

    Example:
        >>> import tempfile, os, json
        >>> from trace_core.llm import ScriptedLLM
        >>> path = os.path.join(tempfile.mkdtemp(), "calls.jsonl")
        >>> _ = LogLLM(ScriptedLLM(["hi"]), path).complete("hello")
        >>> json.loads(open(path).readline())["texts"]
        ['hi']
    """

    def __init__(self, inner: LLM, path: str | os.PathLike[str]) -> None:
        super().__init__(inner)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._pid = 0

    def _append(self, line: str) -> None:
        """Append one line (an append-mode handle per process: one write per line, safe across processes)."""
        with self._lock:
            if self._file is None or self._pid != os.getpid():
                self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - kept open
                self._pid = os.getpid()
            self._file.write(line + "\n")

    def close(self) -> None:
        """Close the log file (it is reopened by the next call)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __del__(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()

    def _write(self, request: Request, completion: Completion | None, error: BaseException | None,
               started: float) -> None:
        record: dict[str, Any] = {"ts": time.time(), "model": self.model, **request.payload()}
        sent = completion.sent if completion is not None else None
        if sent is not None:  # what really went out: a schema the server did not get natively is in the messages
            record["messages"] = sent["messages"]
            if "response_format" in record and not sent.get("response_format"):
                record["schema_in_prompt"] = record.pop("response_format")["name"]
        if completion is not None:
            record.update(completion.model_dump(mode="json", exclude={"model"}))
            record["reply_model"] = completion.model
        else:
            record["latency_s"] = time.perf_counter() - started
        if error is not None:
            record["error"] = {"type": type(error).__name__, "message": str(error)}
        self._append(json.dumps(redact(record, self.secrets), ensure_ascii=False, default=repr))

    def _complete(self, request: Request) -> Completion:
        started, completion, error = time.perf_counter(), None, None
        try:
            completion = self.inner._complete(request)
            return completion
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._write(request, completion, error, started)

    async def _acomplete(self, request: Request) -> Completion:
        started, completion, error = time.perf_counter(), None, None
        try:
            completion = await self.inner._acomplete(request)
            return completion
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._write(request, completion, error, started)

    def _stream(self, request: Request) -> Iterator[str | Completion]:
        started, completion, error = time.perf_counter(), None, None
        try:
            for item in self.inner._stream(request):
                if isinstance(item, Completion):
                    completion = item
                yield item
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._write(request, completion, error, started)
