"""What a chat session remembers besides its messages: the run it drives, the run
store, its budget limits and what its chat model spent. One row per session in the
same SQLite file as the langgraph checkpoints, so a restarted process picks it up."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RunLimits", "ChatLimits", "SessionRecord", "SessionTable"]

_SCHEMA = """CREATE TABLE IF NOT EXISTS chat_sessions (
    session_id TEXT PRIMARY KEY, data TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


class RunLimits(BaseModel):
    """Caps on the current run's totals (as the loop counts them, cumulative over the
    run); ``run_steps`` never goes past them.

    Example:
        >>> RunLimits(max_steps=20).max_tokens is None
        True
    """

    model_config = ConfigDict(extra="forbid")

    max_steps: int | None = Field(default=None, ge=0, description="total committed steps of the run")
    max_evaluations: int | None = Field(default=None, ge=0, description="total candidate evaluations of the run")
    max_tokens: int | None = Field(default=None, ge=0, description="total optimizer LLM tokens of the run")
    max_usd: float | None = Field(default=None, ge=0, description="total optimizer LLM dollars of the run")


class ChatLimits(BaseModel):
    """Caps on what the chat model itself spends in this session.

    Example:
        >>> ChatLimits(max_usd=0.5).model_dump(exclude_none=True)
        {'max_usd': 0.5}
    """

    model_config = ConfigDict(extra="forbid")

    max_tokens: int | None = Field(default=None, ge=0, description="chat model tokens for the session")
    max_usd: float | None = Field(default=None, ge=0, description="chat model dollars for the session")
    max_calls: int | None = Field(default=None, ge=0, description="chat model calls for the session")


class SessionRecord(BaseModel):
    """The stored context of one session.

    Example:
        >>> SessionRecord(session_id="s1").limits.max_steps is None
        True
    """

    session_id: str
    run_id: str | None = None
    store_url: str | None = None
    require_approval: bool = False
    limits: RunLimits = Field(default_factory=RunLimits)
    chat_limits: ChatLimits = Field(default_factory=ChatLimits)
    chat_spent: dict[str, float] = Field(default_factory=dict)
    pending: dict[str, Any] | None = None  # the proposal shown but not yet accepted or rejected
    created_at: str = ""
    updated_at: str = ""


class SessionTable:
    """Read and write session records in a SQLite file (thread-safe).

    Example:
        >>> table = SessionTable(":memory:")
        >>> table.save(SessionRecord(session_id="s1", run_id="abc"))
        >>> table.load("s1").run_id
        'abc'
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._lock = threading.Lock()
        with self._lock, self._conn:
            self._conn.execute(_SCHEMA)

    def load(self, session_id: str) -> SessionRecord | None:
        with self._lock:
            row = self._conn.execute("SELECT data FROM chat_sessions WHERE session_id = ?", (session_id,)).fetchone()
        return None if row is None else SessionRecord.model_validate_json(row[0])

    def save(self, record: SessionRecord) -> None:
        record.updated_at = _now()
        record.created_at = record.created_at or record.updated_at
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO chat_sessions (session_id, data, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(session_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (record.session_id, record.model_dump_json(), record.created_at, record.updated_at))

    def list(self, limit: int = 20) -> list[SessionRecord]:
        """Sessions, most recently used first."""
        with self._lock:
            rows = self._conn.execute("SELECT data FROM chat_sessions ORDER BY updated_at DESC LIMIT ?",
                                      (limit,)).fetchall()
        return [SessionRecord.model_validate(json.loads(r[0])) for r in rows]

    def close(self) -> None:
        self._conn.close()
