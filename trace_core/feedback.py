"""Feedback: what an output is told about itself."""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Feedback", "Direction", "as_feedback", "better"]

Direction = Literal["maximize", "minimize"]


class Feedback(BaseModel):
    """Feedback on one output.

    ``score`` is the primary number (its direction is said by the task or the call);
    ``metrics`` are named numbers. On a multi-objective task (see
    :class:`~trace_core.Objectives`) every objective is read from ``metrics`` and
    ``score`` is the first objective's value, shown where one number is shown; candidates
    are compared by Pareto dominance, so every non-dominated one is kept.

    Example:
        >>> Feedback(score=0.5, text="half right").score
        0.5
        >>> as_feedback("too long").text
        'too long'
    """

    model_config = ConfigDict(frozen=True)

    score: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    text: str = ""
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when the evaluation failed (marked in ``details['failed']``)."""
        return bool(self.details.get("failed"))

    @classmethod
    def failure(cls, reason: str, **details: Any) -> "Feedback":
        """A scored failure: no score, the reason as text."""
        return cls(score=None, text=reason, details={"failed": True, **details})


def as_feedback(value: Any) -> Feedback:
    """Turn a string, a number, a dict or a Feedback into a Feedback."""
    if isinstance(value, Feedback):
        return value
    if isinstance(value, bool):
        return Feedback(score=float(value), text=str(value))
    if isinstance(value, (int, float)):
        return Feedback(score=float(value))
    if isinstance(value, str):
        return Feedback(text=value)
    if isinstance(value, dict):
        return Feedback.model_validate(value)
    if value is None:
        return Feedback()
    if isinstance(value, numbers.Real) or _is_scalar(value):  # numpy / torch scalars
        return Feedback(score=float(value))
    return Feedback(text=str(value))


def _is_scalar(value: Any) -> bool:
    """A one-element numeric array-like (``numpy.float32(1)``, ``torch.tensor(0.5)``)."""
    item = getattr(value, "item", None)
    if not callable(item) or getattr(value, "ndim", 1) != 0:
        return False
    try:
        return isinstance(item(), (int, float)) and not isinstance(item(), bool)
    except Exception:  # noqa: BLE001 - not a scalar after all
        return False


def better(a: float | None, b: float | None, direction: Direction) -> bool:
    """True when score ``a`` is strictly better than ``b`` in ``direction``.

    ``None`` and NaN are worse than any number.
    """
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return False
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return True
    return a > b if direction == "maximize" else a < b
