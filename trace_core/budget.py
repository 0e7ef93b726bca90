"""Budget: one record for every limit, shared by the LLM layer and the loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from trace_core.errors import BudgetExceeded

__all__ = ["Budget", "UNPRICED", "format_usd"]

#: The amount counting calls whose price is unknown: while it is above 0, ``usd`` is a lower bound.
UNPRICED = "unpriced_calls"

_LIMITS = {
    "max_steps": "steps",
    "max_evaluations": "evaluations",
    "max_tokens": "tokens",
    "max_usd": "usd",
    "max_calls": "calls",
    "max_seconds": "seconds",
}


def format_usd(usd: float | None, unpriced: float = 0) -> str:
    """Dollars for people: ``"$?"`` when the price is unknown, ``"$0.0012+?"`` when only part of it is.

    Example:
        >>> format_usd(None), format_usd(0.5), format_usd(0.5, unpriced=2)
        ('$?', '$0.5000', '$0.5000+?')
    """
    if usd is None:
        return "$?"
    return f"${usd:.4f}{'+?' if unpriced else ''}"


def usd_of(rows: Iterable[Mapping[str, Any]]) -> str:
    """The dollars of step or call rows for people (``cost_usd`` None with tokens spent: price unknown).

    Example:
        >>> usd_of([{"cost_usd": 0.5, "tokens": 9}, {"cost_usd": None, "tokens": 0}]), usd_of([{"cost_usd": None, "tokens": 3}])
        ('$0.5000', '$?')
    """
    known, unpriced = 0.0, 0
    for row in rows:
        cost = row.get("cost_usd")
        tokens = row.get("tokens", (row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0))
        if cost is not None:
            known += cost
        elif tokens:
            unpriced += 1
    return format_usd(None if unpriced and not known else known, unpriced)


class _Lock:
    """A lock that copies and pickles as a fresh lock, so a Budget can be deep-copied
    and sent to another process."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._lock.__exit__(*exc)

    def __reduce__(self) -> tuple[type, tuple]:
        return (_Lock, ())


class Budget(BaseModel):
    """Limits on a run and the amounts spent so far (thread-safe).

    The LLM layer charges tokens, dollars and calls (and refuses a call that would
    pass a limit before it is sent); the loop charges steps and evaluations and
    checks the wall time.

    Example:
        >>> b = Budget(max_calls=1)
        >>> b.charge(calls=1)
        >>> b.exhausted()
        'max_calls'
    """

    model_config = ConfigDict(validate_assignment=True)

    max_steps: int | None = Field(default=None, ge=0)
    max_evaluations: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)
    max_usd: float | None = Field(default=None, ge=0)
    max_calls: int | None = Field(default=None, ge=0)
    max_seconds: float | None = Field(default=None, ge=0)

    _spent: dict[str, float] = PrivateAttr(default_factory=lambda: {**{v: 0.0 for v in _LIMITS.values()}, UNPRICED: 0.0})
    _refused: tuple[str, float] | None = PrivateAttr(default=None)
    _started: float | None = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=_Lock)

    def start(self) -> None:
        """Start the wall clock (first call wins)."""
        if self._started is None:
            self._started = time.monotonic()

    @property
    def spent(self) -> dict[str, float]:
        """What was spent so far, by kind (steps, evaluations, tokens, usd, calls, seconds)."""
        out = dict(self._spent)
        out["seconds"] = self._spent["seconds"] + (0.0 if self._started is None else time.monotonic() - self._started)
        return out

    def restore(self, spent: dict[str, float]) -> None:
        """Set the amounts spent (used when a run resumes). Seconds spent before count
        toward ``max_seconds``; the clock goes on from there once started."""
        with self._lock:
            for k, v in spent.items():
                if k in self._spent:
                    self._spent[k] = float(v)

    def charge(self, **amounts: float) -> None:
        """Add amounts spent: ``charge(tokens=120, usd=0.001, calls=1)``."""
        with self._lock:
            for k, v in amounts.items():
                if k not in self._spent or k == "seconds":
                    raise ValueError(f"unknown budget amount {k!r}; use one of {sorted(self._spent)}")
                self._spent[k] += float(v or 0)

    def remaining(self, limit: str) -> float | None:
        """What is left under ``limit`` (e.g. ``"max_tokens"``), or None if unlimited."""
        cap = getattr(self, limit)
        if cap is None:
            return None
        return cap - self.spent[_LIMITS[limit]]

    def exhausted(self) -> str | None:
        """The name of the first limit reached, or None. A limit that refused a call
        (see :meth:`check`) counts as reached until it is raised."""
        spent = self.spent
        if self._refused is not None and getattr(self, self._refused[0]) == self._refused[1]:
            return self._refused[0]
        for limit, kind in _LIMITS.items():
            cap = getattr(self, limit)
            if cap is not None and spent[kind] >= cap:
                return limit
        return None

    def check(self, *, tokens: float = 0, usd: float = 0, calls: float = 0) -> None:
        """Raise :class:`BudgetExceeded` if spending these amounts would pass a limit; that
        limit then counts as reached (:meth:`exhausted`), since the next call would not fit either."""
        spent = self.spent
        for limit, extra in (("max_calls", calls), ("max_tokens", tokens), ("max_usd", usd)):
            cap = getattr(self, limit)
            kind = _LIMITS[limit]
            if cap is not None and spent[kind] + extra > cap:
                self._refused = (limit, cap)
                raise BudgetExceeded(
                    f"budget {limit}={cap} would be exceeded (spent {spent[kind]:g}, this needs {extra:g}); "
                    f"raise {limit} or start a new run",
                    limit=limit,
                )
        if self.max_seconds is not None and spent["seconds"] >= self.max_seconds:
            raise BudgetExceeded(f"budget max_seconds={self.max_seconds} reached", limit="max_seconds")

    def describe(self) -> str:
        """A one-line summary: limits and what was spent."""
        spent = self.spent
        parts = []
        for limit, kind in _LIMITS.items():
            cap = getattr(self, limit)
            if cap is not None or spent[kind]:
                unknown = "+?" if kind == "usd" and spent[UNPRICED] else ""
                parts.append(f"{kind} {spent[kind]:g}{unknown}/{'∞' if cap is None else f'{cap:g}'}")
        return ", ".join(parts) or "no limits"
