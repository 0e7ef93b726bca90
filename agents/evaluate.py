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
from trace_core.errors import BudgetExceeded, Pruned, TaskError, TracedError

__all__ = ["EvalResult", "evaluate_values", "run_example", "aggregate"]

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """The feedback of one candidate over examples, plus per-example feedback."""

    feedback: Feedback
    per_example: list[Feedback] = field(default_factory=list)
    status: str = "done"  # done | failed | pruned | timeout
    seconds: float = 0.0


def run_example(task: Any, example: Any) -> Feedback:
    """Run and evaluate one example; a crash becomes a failed Feedback."""
    try:
        output = task.run(example)
    except (Pruned, TaskError, BudgetExceeded):  # control flow and systemic failures, not this example's
        raise
    except TracedError as e:
        return Feedback.failure(f"the workflow raised {e.exception_node.description.splitlines()[0]}",
                                error=e.exception_node.description[-2000:])
    except (Exception, SystemExit) as e:  # noqa: BLE001 - one example's failure is feedback (sys.exit too)
        return Feedback.failure(f"the workflow raised {type(e).__name__}: {e}",
                                error=traceback.format_exc(limit=-3)[-2000:])
    try:
        return task.evaluate(example, output)
    except (Pruned, TaskError, BudgetExceeded):
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001
        return Feedback.failure(f"evaluation raised {type(e).__name__}: {e}",
                                error=traceback.format_exc(limit=-3)[-2000:])


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
    try:
        with using(values), no_trace(), reporting(reporter):
            for example in examples:
                per.append(run_example(task, example))
    except Pruned as e:
        fb = Feedback.failure(f"pruned at step {e.step} (intermediate value {e.value})", pruned=True)
        return EvalResult(fb, per, "pruned", time.perf_counter() - start)
    return EvalResult(aggregate(per), per, "done", time.perf_counter() - start)
