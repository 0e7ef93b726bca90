"""``tracetune chat``: a terminal REPL around :class:`~agents.chat.ChatSession`.

Line editing and history (prompt_toolkit) on a terminal, plain ``input()`` otherwise;
answers are streamed; Ctrl-C stops the current turn (a running step finishes first)
and keeps the session; Ctrl-D or ``exit`` quits. Like the CLI, this module prints.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from agents.chat.session import ChatSession, default_db_path
from trace_core.errors import TraceTuneError

__all__ = ["main"]

log = logging.getLogger(__name__)

_EXIT = {"exit", "quit", ":q", "/exit", "/quit"}


class _Printer:
    """Writes a turn's events: the answer as it streams, tool activity dimmed."""

    def __init__(self, out: TextIO):
        self.out = out
        self.dim = out.isatty()
        self.fresh_line = True

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        if text:
            self.fresh_line = text.endswith("\n")

    def note(self, text: str) -> None:
        if not self.fresh_line:
            self.write("\n")
        self.write((f"\x1b[2m{text}\x1b[0m" if self.dim else text) + "\n")

    def event(self, kind: str, data: Any) -> None:
        if kind == "text":
            self.write(data)
        elif kind == "tool_call":
            args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)[:60]}" for k, v in (data["args"] or {}).items())
            self.note(f"  → {data['name']}({args})")
        elif kind == "tool_result":
            first = str(data["content"]).strip().splitlines() or [""]
            self.note(f"    {first[0][:160]}{' …' if len(first) > 1 or len(first[0]) > 160 else ''}")
        elif kind == "question":
            self.note("")
            self.write(f"{data}\n")

    def end(self) -> None:
        if not self.fresh_line:
            self.write("\n")


def _reader(db_path: Path) -> Callable[[], str]:
    if sys.stdin.isatty() and sys.stdout.isatty():
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory

        session: Any = PromptSession(history=FileHistory(str(db_path.parent / "chat_history")))
        return lambda: session.prompt("you> ")
    return lambda: input("you> ")


def _resolve_session(session: str | None, db_path: Path) -> str | None:
    if session != "last":
        return session
    found = ChatSession.sessions(db_path, limit=1)
    return found[0].session_id if found else None


def main(session: str | None = None, run: str | None = None, store: str | None = None, *, db: str | None = None,
         llm: str | None = None, approve: bool | None = None, chat_max_tokens: int | None = None,
         chat_max_usd: float | None = None, out: TextIO | None = None) -> int:
    """Run the REPL; returns the exit code (0, or 2 when the session cannot start).

    Args:
        session: continue this session (``last``: the most recent one); None starts a new one.
        run: make this run the session's run.
        store: the run store (URL or SQLite path).
        db: the session file (default ``$TRACETUNE_CHAT_DB`` or ``.tracetune/chat.db``).
        llm: the chat model (a model string, or ``scripted:FILE`` for tests); default
            ``$TRACETUNE_CHAT_LLM`` / ``$TRACETUNE_LLM``.
        approve: ask before a proposal is applied (kept with the session).
        chat_max_tokens, chat_max_usd: limits on the chat model's own spending.
    """
    out = out or sys.stdout
    printer = _Printer(out)
    db_path = Path(db) if db else default_db_path()
    limits = {k: v for k, v in (("max_tokens", chat_max_tokens), ("max_usd", chat_max_usd)) if v is not None}
    try:
        chat = ChatSession(_resolve_session(session, db_path), llm=llm, store=store, db_path=db_path, run_id=run,
                           require_approval=approve, chat_limits=limits or None)
    except TraceTuneError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    chat.on_cancel = lambda: printer.note(f"(stopping: the step in progress may finish first, for up to "
                                          f"{chat.bounds.grace:g} s; Ctrl-C again to stop waiting)")
    with chat:
        _banner(chat, printer)
        read = _reader(db_path)
        while True:
            try:
                text = read()
            except KeyboardInterrupt:
                printer.note("(Ctrl-D or 'exit' quits)")
                continue
            except EOFError:
                break
            if text.strip().lower() in _EXIT:
                break
            if not text.strip():
                continue
            try:
                for event in chat.events(text):
                    printer.event(*event)
            except KeyboardInterrupt:
                printer.note("(stopped; the session is kept)")
            except TraceTuneError as e:
                printer.note(f"error: {e}")
            except Exception as e:  # noqa: BLE001 - the REPL survives a failed turn
                log.debug("chat turn failed", exc_info=True)
                printer.note(f"error: {type(e).__name__}: {e}")
            printer.end()
        printer.note(f"session {chat.session_id} saved; continue it with: tracetune chat --session {chat.session_id}")
    return 0


def _banner(chat: ChatSession, printer: _Printer) -> None:
    printer.write(f"tracetune chat — session {chat.session_id}"
                  + (f", run {chat.run_id}" if chat.run_id else "") + "\n")
    past = len(chat.history())
    if past:
        printer.note(f"(continuing: {past} earlier messages)")
    if chat.question:
        printer.write(f"{chat.question}\n")
    printer.note("Ctrl-C stops a turn; Ctrl-D or 'exit' quits.")
