"""The words of a run report that need no run store: why a run stopped and when, how a
run compares with a previous one (:class:`Comparison`), and the atomic file write that
reports and exports use.

Example:
    >>> why_stopped({"status": "finished", "stop_reason": "target reached"}), when("2026-12-03T14:05:29.1")
    ('target reached', '2026-12-03 14:05:29 UTC')
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trace_core.llm.redact import clean_text

__all__ = ["why_stopped", "when", "write_atomic", "Comparison", "compare"]


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


@dataclass(frozen=True)
class Comparison:
    """This run's best score against a previous run's.

    ``change`` is the improvement (positive = better, whatever the direction) and
    ``percent`` that change relative to the previous score.

    Example:
        >>> c = compare(0.8, {"id": "abc", "best_score": 1.0}, "maximize")
        >>> c.verdict, round(c.percent, 1), c.regressed(10), c.regressed(25)
        ('worse', -20.0, True, False)
    """

    previous_id: str
    previous_score: float | None
    score: float | None
    direction: str
    change: float | None
    percent: float | None
    measure: str = "score"  # "hypervolume": two multi-objective runs' fronts (agents._front_report)

    @property
    def verdict(self) -> str:
        if self.change is None:
            return "not comparable"
        return "better" if self.change > 0 else "worse" if self.change < 0 else "the same"

    def regressed(self, percent: float) -> bool:
        """True when this run is worse than the previous one by more than ``percent``."""
        return self.percent is not None and self.percent < 0 and -self.percent > percent

    def describe(self) -> str:
        several = self.measure != "score"
        if self.change is None:
            why = "its front or its objectives differ" if several else "a score is missing"
            return f"not comparable with run {self.previous_id} ({why})"
        if self.change == 0:
            return f"the same as run {self.previous_id} ({self.measure + ' ' if several else ''}{_num(self.score)})"
        pct = "" if self.percent is None or math.isinf(self.percent) else f", {abs(self.percent):.3g}%"
        how = f"{self.measure} {_num(self.previous_score)} → {_num(self.score)}" if several else \
            f"{_num(self.previous_score)} → {_num(self.score)}, {self.direction}"
        return f"{self.verdict} than run {self.previous_id} by {abs(self.change):.4g}{pct} ({how})"


def compare(score: float | None, previous: dict[str, Any], direction: str) -> Comparison:
    """Compare ``score`` with the ``best_score`` of a previous run row."""
    prev = previous.get("best_score")
    change = percent = None
    if score is not None and prev is not None:
        change = (score - prev) if direction == "maximize" else (prev - score)
        percent = change / abs(prev) * 100 if prev != 0 else (0.0 if change == 0 else math.copysign(math.inf, change))
    elif prev is not None:  # this run has no score at all: as bad as it gets
        change, percent = -math.inf, -math.inf
    return Comparison(previous["id"], prev, score, direction, change, percent)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"
