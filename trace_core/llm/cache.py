"""An on-disk response cache (SQLite, WAL) that threads and processes share safely."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from trace_core.errors import ConfigError
from trace_core.llm.base import LLM, Middleware
from trace_core.llm.records import Completion, Request, Usage

__all__ = ["Cache", "CacheLLM", "default_cache_path"]

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, model TEXT, value TEXT, created REAL)"


def default_cache_path() -> Path:
    """``$TRACETUNE_CACHE_DIR`` or ``$XDG_CACHE_HOME/tracetune`` or ``~/.cache/tracetune``, file ``llm.sqlite``."""
    root = os.environ.get("TRACETUNE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or
                                                        Path.home() / ".cache") / "tracetune"
    return Path(root) / "llm.sqlite"


class Cache:
    """Completions keyed by model, messages, tools and sampling parameters.

    One SQLite file in WAL mode: many threads and processes may read and write it at
    once. ``read_only=True`` serves hits and never writes (a missing file is an error).

    Example:
        >>> import tempfile, os
        >>> cache = Cache(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> cache.put("k", Completion(texts=("hi",), model="m"))
        >>> cache.get("k").text, len(cache)
        ('hi', 1)
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.read_only = read_only
        self._local = threading.local()
        if read_only and not self.path.exists():
            raise ConfigError(f"read-only LLM cache {self.path} does not exist; fill it first or drop read_only")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        if self.read_only:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
        else:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            _setup(conn)
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def get(self, key: str) -> Completion | None:
        """The stored completion for ``key``, or None."""
        try:
            row = self._connect().execute("SELECT value FROM completions WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError as exc:  # e.g. a read-only file without the table yet
            log.warning("LLM cache %s unreadable (%s); treating as a miss", self.path, exc)
            return None
        return None if row is None else Completion.model_validate_json(row[0])

    def put(self, key: str, completion: Completion) -> None:
        """Store ``completion`` under ``key`` (no-op when read-only)."""
        if self.read_only:
            return
        value = completion.model_dump_json(exclude={"cached", "latency_s"})
        try:
            self._connect().execute("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?)",
                                    (key, completion.model, value, time.time()))
        except sqlite3.Error as exc:  # the answer is still returned; only its caching failed
            log.warning("could not store a completion in the LLM cache %s: %s", self.path, exc)

    def __len__(self) -> int:
        try:
            return self._connect().execute("SELECT COUNT(*) FROM completions").fetchone()[0]
        except sqlite3.OperationalError:  # a read-only file without the table yet
            return 0

    def clear(self) -> None:
        """Delete every entry (refused for a read-only cache)."""
        if self.read_only:
            raise ConfigError(f"the LLM cache {self.path} is read-only; open it without read_only=True to clear it")
        self._connect().execute("DELETE FROM completions")

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r}{', read_only=True' if self.read_only else ''})"


def _setup(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """WAL mode and the table. Two processes opening a new file at once can see
    "database is locked" here even with a busy timeout (switching the journal mode
    takes its own lock), so retry with a short back-off."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (1 + attempt % 5))


class CacheLLM(Middleware):
    """Answers repeated calls from a :class:`Cache` (``cached=True``, zero cost and usage).

    Example:
        >>> import tempfile, os
        >>> from trace_core.llm import ScriptedLLM
        >>> llm = CacheLLM(ScriptedLLM(["once"]), Cache(os.path.join(tempfile.mkdtemp(), "c.sqlite")))
        >>> llm.complete("q").cached, llm.complete("q").cached
        (False, True)
    """

    def __init__(self, inner: LLM, cache: Cache) -> None:
        super().__init__(inner)
        self.cache = cache

    def _hit(self, key: str, started: float) -> Completion | None:
        hit = self.cache.get(key)
        if hit is None:
            return None
        return hit.model_copy(update={"cached": True, "cost_usd": 0.0, "usage": Usage(),
                                      "latency_s": time.perf_counter() - started})

    def _complete(self, request: Request) -> Completion:
        started, key = time.perf_counter(), request.key(self.model)
        hit = self._hit(key, started)
        if hit is not None:
            return hit
        completion = self.inner._complete(request)
        self.cache.put(key, completion)
        return completion

    async def _acomplete(self, request: Request) -> Completion:
        started, key = time.perf_counter(), request.key(self.model)
        hit = self._hit(key, started)
        if hit is not None:
            return hit
        completion = await self.inner._acomplete(request)
        self.cache.put(key, completion)
        return completion

    def _stream(self, request: Request) -> Iterator[str | Completion]:
        started, key = time.perf_counter(), request.key(self.model)
        hit = self._hit(key, started)
        if hit is not None:
            if hit.text:
                yield hit.text
            yield hit
            return
        for item in self.inner._stream(request):
            if isinstance(item, Completion):
                self.cache.put(key, item)
            yield item
