"""How an evaluation ended, and the score it counts for.

Every evaluation ends in one :class:`Outcome`; failure counts, stop decisions and exit
codes read these values, never the text of a message. :func:`score` is the one place a
Feedback becomes the number an optimizer compares (None for a failure or a NaN).
"""

from __future__ import annotations

import enum
import math

from trace_core.feedback import Feedback

__all__ = ["Outcome", "score"]


class Outcome(str, enum.Enum):
    """The end of one evaluation. The values are the strings stored in run stores.

    Example:
        >>> Outcome("timeout").ok, Outcome.SYSTEMIC.stops_run
        (False, True)
    """

    DONE = "done"  # scored (some examples may have failed)
    FAILED = "failed"  # every example failed
    INVALID = "invalid"  # the values could not be used: validation or the definition of proposed code failed
    PRUNED = "pruned"  # stopped early on an intermediate value
    TIMEOUT = "timeout"  # ran past its time limit
    SYSTEMIC = "systemic"  # the task failed as a whole: the run stops
    BUDGET = "budget"  # a shared budget ran out during the evaluation: the run stops

    @property
    def ok(self) -> bool:
        return self is Outcome.DONE

    @property
    def stops_run(self) -> bool:
        return self in (Outcome.SYSTEMIC, Outcome.BUDGET)

    def __str__(self) -> str:
        return self.value


def score(feedback: Feedback) -> float | None:
    """The number a feedback counts for: its score, or None when it failed, has no
    score, or the score is NaN.

    Example:
        >>> score(Feedback(score=0.5)), score(Feedback.failure("crashed")), score(Feedback(score=float("nan")))
        (0.5, None, None)
    """
    value = feedback.score
    if feedback.failed or value is None or math.isnan(value):
        return None
    return value
