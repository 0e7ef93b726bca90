"""The words of a run report that need no run store: why a run stopped and when, and
the atomic file write that reports and exports use.

Example:
    >>> why_stopped({"status": "finished", "stop_reason": "target reached"}), when("2026-12-03T14:05:29.1")
    ('target reached', '2026-12-03 14:05:29 UTC')
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from trace_core.llm.redact import clean_text

__all__ = ["why_stopped", "when", "write_atomic"]


def why_stopped(run: dict[str, Any]) -> str:
    """Why a run stopped, in words, never repeating its status ("interrupted: interrupted").

    Example:
        >>> why_stopped({"status": "interrupted", "stop_reason": "interrupted"})
        'stopped on request (Ctrl-C or SIGTERM)'
    """
    status, why = run.get("status"), (run.get("stop_reason") or "").strip()
    if why.startswith("KeyboardInterrupt"):
        return "stopped at once (a second Ctrl-C)"
    if why in ("", status):
        return {"interrupted": "stopped on request (Ctrl-C or SIGTERM)", "running": "in progress, or killed before it could say so"}.get(
            status or "", "")
    return why


def when(timestamp: str | None) -> str:
    """A stored ISO timestamp (UTC) to the second, for people."""
    return f"{timestamp[:19].replace('T', ' ')} UTC" if timestamp else "—"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, lone surrogates replaced) to ``path`` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(clean_text(text))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
