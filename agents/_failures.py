"""What failed in a run, in the words every summary uses (the CLI, ``show``, the report,
:class:`~agents.records.RunResult`): the first error — its type, message and the frame of
the user's code that raised it — and how many evaluations and proposals failed."""

from __future__ import annotations

import re
import sysconfig
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from trace_core.feedback import Feedback
from trace_core.outcome import Outcome

__all__ = ["first_error", "user_frame", "describe_error", "failure_counts", "counts_of"]

_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$')
_RAISED = re.compile(r"^(?:the workflow|evaluation) raised (?P<type>[A-Za-z_][\w.]*): ?(?P<message>.*)", re.S)
_NOT_ERRORS = (Outcome.DONE, Outcome.PRUNED)


def _library_dirs() -> tuple[str, ...]:
    import agents
    import optimizers
    import tasks
    import trace_core

    dirs = [str(Path(m.__file__).resolve().parent) for m in (agents, optimizers, tasks, trace_core)]
    dirs += [str(Path(p).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib")
             if (p := sysconfig.get_paths().get(key))]
    return tuple(dirs)


def _is_library(path: str) -> bool:
    if path.startswith("<frozen"):
        return True
    try:
        resolved = str(Path(path).resolve())
    except (OSError, ValueError):
        return False
    return any(resolved == d or resolved.startswith(d + "/") for d in _library_dirs())


def user_frame(traceback_text: str) -> str:
    """The last frame of a formatted traceback in the user's code (not tracetune's, not
    the standard library's or an installed package's), as ``path, line N, in func: code``;
    the last frame when none is the user's; "" without a traceback.

    Example:
        >>> user_frame('Traceback (most recent call last):\\n  File "/me/flow.py", line 3, in forward\\n'
        ...            '    return x > 1\\nTypeError: bad')
        '/me/flow.py, line 3, in forward: return x > 1'
    """
    lines = traceback_text.splitlines()
    frames = []
    for i, line in enumerate(lines):
        m = _FRAME.match(line)
        if m:
            code = lines[i + 1].strip() if i + 1 < len(lines) and not _FRAME.match(lines[i + 1]) else ""
            code = "" if set(code) <= set("^~ ") else code
            frames.append((m["path"], f"{m['path']}, line {m['line']}, in {m['func']}" + (f": {code}" if code else "")))
    if not frames:
        return ""
    users = [text for path, text in frames if not _is_library(path)]
    return users[-1] if users else frames[-1][1]


def _record(step: int, outcome: Outcome, fb: Feedback) -> dict[str, Any]:
    tb = str(fb.details.get("error") or "")
    m = _RAISED.match(fb.text or "")
    kind, message = (m["type"], m["message"]) if m else ("", fb.text or outcome.value)
    return {"step": step, "outcome": outcome.value, "type": kind, "message": message[:1000],
            "frame": user_frame(tb), "traceback": tb}


def first_error(step: int, results: Iterable[Any]) -> dict[str, Any] | None:
    """The first failed evaluation among ``results`` (EvalResults) as the record stored
    with a run, from its first failed example; None when none failed."""
    for r in results:
        if r is None or r.outcome in _NOT_ERRORS:
            continue
        fb = next((f for f in r.per_example if f.failed), r.feedback)
        return _record(step, r.outcome, fb)
    return None


def describe_error(err: Mapping[str, Any] | None) -> str:
    """``first error (step N): Type: message`` and the user's frame on a second line."""
    if not err:
        return ""
    kind = f"{err['type']}: " if err.get("type") else f"{err.get('outcome', 'failed')}: "
    text = f"first error (step {err.get('step', 0)}): {kind}{' '.join(str(err.get('message', '')).split())[:300]}"
    return text + (f"\n  at {err['frame']}" if err.get("frame") else "")


def counts_of(candidates: Iterable[Mapping[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """Outcome counts and proposal failure counts from stored candidate rows."""
    outcomes: dict[str, int] = {}
    proposals: dict[str, int] = {}
    for c in candidates:
        status = c.get("status")
        if status and status != "no change":
            outcomes[status] = outcomes.get(status, 0) + 1
        if c.get("failure_kind"):
            proposals[c["failure_kind"]] = proposals.get(c["failure_kind"], 0) + 1
    return outcomes, proposals


def failure_counts(outcomes: Mapping[str, int], proposal_failures: Mapping[str, int] | None = None) -> str:
    """``failures: 2 of 5 evaluations (failed 1, timeout 1); failed proposals: llm 1``.

    Example:
        >>> failure_counts({"done": 3, "failed": 2}, {"reply": 1})
        'failures: 2 of 5 evaluations (failed 2); failed proposals: reply 1'
    """
    total = sum(outcomes.values())
    bad = {k: n for k, n in sorted(outcomes.items()) if k != Outcome.DONE.value and n}
    text = f"failures: {sum(bad.values())} of {total} evaluations"
    if bad:
        text += " (" + ", ".join(f"{k} {n}" for k, n in bad.items()) + ")"
    proposals = {k: n for k, n in sorted((proposal_failures or {}).items()) if n}
    if proposals:
        text += "; failed proposals: " + ", ".join(f"{k} {n}" for k, n in proposals.items())
    return text
