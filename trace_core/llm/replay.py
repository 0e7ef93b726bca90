"""``ReplayLLM``: record real calls to a JSONL file, replay them later offline at zero cost."""

from __future__ import annotations

import json
import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from trace_core.llm.base import LLM, BaseLLM, as_base
from trace_core.llm.errors import ReplayMissing
from trace_core.llm.records import Completion, Request
from trace_core.llm.redact import redact

__all__ = ["ReplayLLM"]

#: What identifies a call in a recording: the conversation, tools, schema and number of choices
#: (not the model, the temperature or the seed, so a recording survives a change of those).
_KEY_FIELDS = ("messages", "tools", "response_format", "n")


class ReplayLLM(BaseLLM):
    """With ``inner``: calls it and appends each call to ``path``. Without: answers from ``path``.

    A call recorded several times is replayed in the recorded order (the last
    answer repeats). A call the recording lacks raises :class:`ReplayMissing`
    naming its prompt. Replayed completions have ``cached=True`` and zero cost.

    Example:
        >>> import tempfile, os
        >>> from trace_core.llm import ScriptedLLM
        >>> path = os.path.join(tempfile.mkdtemp(), "calls.jsonl")
        >>> ReplayLLM(path, inner=ScriptedLLM(["42"])).complete("answer?").text
        '42'
        >>> ReplayLLM(path).complete("answer?").text
        '42'
    """

    def __init__(self, path: str | os.PathLike[str], inner: LLM | None = None) -> None:
        self.path = Path(path)
        self.inner = None if inner is None else as_base(inner)
        self.model = self.inner.model if self.inner is not None else "replay"
        self._lock = threading.Lock()
        self._recorded: dict[str, list[Completion]] | None = None
        self._turns: dict[str, int] = defaultdict(int)

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.inner.secrets if self.inner is not None else ()

    def count_tokens(self, messages: Any) -> int:
        return self.inner.count_tokens(messages) if self.inner is not None else super().count_tokens(messages)

    def _load(self) -> dict[str, list[Completion]]:
        if self._recorded is None:
            if not self.path.exists():
                raise ReplayMissing(f"recording {self.path} does not exist; record it first with "
                                    "ReplayLLM(path, inner=<a real LLM>)", model=self.model)
            recorded: dict[str, list[Completion]] = defaultdict(list)
            with open(self.path, encoding="utf-8") as fh:
                for number, line in enumerate(fh, 1):
                    if line.strip():
                        try:
                            entry = json.loads(line)
                            recorded[entry["key"]].append(Completion.model_validate(entry["completion"]))
                        except (ValueError, KeyError) as exc:
                            raise ReplayMissing(f"recording {self.path} line {number} is damaged ({exc}); "
                                                "delete it and record again", model=self.model) from None
                        self.model = entry.get("model", self.model)
            self._recorded = dict(recorded)
        return self._recorded

    def _record(self, request: Request, key: str, completion: Completion) -> None:
        entry = {"key": key, "model": self.model, "prompt": request.prompt_preview(), **request.payload(),
                 "completion": completion.model_dump(mode="json")}
        line = json.dumps(redact(entry, self.secrets), ensure_ascii=False, default=repr)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def _replay(self, request: Request, key: str) -> Completion:
        with self._lock:
            answers = self._load().get(key)
            if not answers:
                raise ReplayMissing(f"recording {self.path} ({sum(map(len, self._load().values()))} calls) holds "
                                    f"no call for the prompt {request.prompt_preview()!r}; record it with "
                                    "ReplayLLM(path, inner=<a real LLM>)", model=self.model)
            turn = self._turns[key]
            self._turns[key] = turn + 1
        answer = answers[min(turn, len(answers) - 1)]
        return answer.model_copy(update={"cached": True, "cost_usd": 0.0, "latency_s": 0.0})

    def _complete(self, request: Request) -> Completion:
        key = request.key(None, fields=_KEY_FIELDS)
        if self.inner is None:
            return self._replay(request, key)
        completion = self.inner._complete(request)
        self._record(request, key, completion)
        return completion

    async def _acomplete(self, request: Request) -> Completion:
        key = request.key(None, fields=_KEY_FIELDS)
        if self.inner is None:
            return self._replay(request, key)
        completion = await self.inner._acomplete(request)
        self._record(request, key, completion)
        return completion
