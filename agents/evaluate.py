"""Evaluate one set of values on a task's examples (the unit of work of executors).

The values are applied with ``trace_core.using`` (a context of its own), never by
assigning live parameters, so candidates evaluated concurrently each see their own.
A failure on one example becomes a failed Feedback; ``Pruned`` stops the evaluation;
``BudgetExceeded`` (a workflow's LLM sharing the run's budget) and ``TaskError``
propagate so the loop stops the run.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tasks.base import Reporter, reporting
from trace_core import Feedback, no_trace, using
from trace_core.errors import BudgetExceeded, InvalidProposal, Pruned, TaskError, TracedError
from trace_core.outcome import Outcome

__all__ = ["EvalResult", "evaluate_values", "run_example", "aggregate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalResult:
    """The feedback of one candidate over examples, per-example feedback, and how the
    evaluation ended (an :class:`~trace_core.Outcome`; a string is turned into one)."""

    feedback: Feedback
    per_example: list[Feedback] = field(default_factory=list)
    outcome: Outcome = Outcome.DONE
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.outcome, Outcome):
            object.__setattr__(self, "outcome", Outcome(self.outcome))

    @property
    def status(self) -> Outcome:
        """The outcome (its old name; compares equal to its string)."""
        return self.outcome


def _example(task: Any, example: Any) -> tuple[Feedback, Outcome]:
    """Run and evaluate one example: its feedback, and ``FAILED``, ``INVALID`` (proposed
    code that cannot be defined, values a space refused) or ``TIMEOUT`` when it failed."""
    try:
        output = task.run(example)
    except (Pruned, TaskError, BudgetExceeded):  # control flow and systemic failures, not this example's
        raise
    except TracedError as e:
        return (Feedback.failure(f"the workflow raised {e.exception_node.description.splitlines()[0]}",
                                 error=e.exception_node.description[-2000:]), _kind(e.exception_node.value))
    except (Exception, SystemExit) as e:  # noqa: BLE001 - one example's failure is feedback (sys.exit too)
        return (Feedback.failure(f"the workflow raised {type(e).__name__}: {e}",
                                 error=traceback.format_exc(limit=-3)[-2000:]), _kind(e))
    try:
        return task.evaluate(example, output), Outcome.DONE
    except (Pruned, TaskError, BudgetExceeded):
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001
        return (Feedback.failure(f"evaluation raised {type(e).__name__}: {e}",
                                 error=traceback.format_exc(limit=-3)[-2000:]), _kind(e))


def _kind(error: Any) -> Outcome:
    if isinstance(error, InvalidProposal):
        return Outcome.INVALID
    if isinstance(error, TimeoutError):
        return Outcome.TIMEOUT
    return Outcome.FAILED


def run_example(task: Any, example: Any) -> Feedback:
    """Run and evaluate one example; a crash becomes a failed Feedback."""
    return _example(task, example)[0]


def _overall(feedback: Feedback, outcomes: Sequence[Outcome]) -> Outcome:
    """A candidate's outcome: done unless every example failed; then the most telling
    reason (invalid before timeout before failed)."""
    if not feedback.failed:
        return Outcome.DONE
    for kind in (Outcome.INVALID, Outcome.TIMEOUT):
        if kind in outcomes:
            return kind
    return Outcome.FAILED


def aggregate(items: Sequence[Feedback]) -> Feedback:
    """Mean score and metrics over examples; failures are named in the text.

    All failed → a failed Feedback. Some failed → the mean over the others, with
    ``details["n_failed"]``.
    """
    if len(items) == 1:
        return items[0]
    ok = [f for f in items if not f.failed and f.score is not None and not math.isnan(f.score)]
    failed = [f for f in items if f.failed]
    if not ok:
        reasons = "; ".join(sorted({f.text[:200] for f in failed})) or "no score"
        return Feedback.failure(f"all {len(items)} examples failed: {reasons}", n_failed=len(failed))
    metrics: dict[str, float] = {}
    keys = sorted({k for f in ok for k in f.metrics})
    for k in keys:
        vals = [f.metrics[k] for f in ok if k in f.metrics]
        metrics[k] = statistics.fmean(vals)
    texts = [f.text for f in items if f.text]
    text = "\n".join(texts[:20]) + (f"\n… {len(texts) - 20} more" if len(texts) > 20 else "")
    return Feedback(score=statistics.fmean(f.score for f in ok), metrics=metrics, text=text,
                    details={"n_examples": len(items), "n_failed": len(failed)})


def evaluate_values(task: Any, values: Mapping[str, Any], examples: Sequence[Any],
                    reporter: Reporter | None = None) -> EvalResult:
    """Score ``values`` on ``examples`` (untraced, under their own value mapping)."""
    start = time.perf_counter()
    per: list[Feedback] = []
    kinds: list[Outcome] = []
    try:
        with using(values), no_trace(), reporting(reporter):
            for example in examples:
                fb, kind = _example(task, example)
                per.append(fb)
                kinds.append(kind)
    except Pruned as e:
        fb = Feedback.failure(f"pruned at step {e.step} (intermediate value {e.value})", pruned=True)
        return EvalResult(fb, per, Outcome.PRUNED, time.perf_counter() - start)
    feedback = aggregate(per)
    return EvalResult(feedback, per, _overall(feedback, kinds), time.perf_counter() - start)
