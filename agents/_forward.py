"""The traced half of a step: run the workflow on a minibatch of training examples
while tracing, score each output, and propagate the feedback backward."""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import json
import logging
import math
import random
from collections.abc import Sequence
from typing import Any

from agents.store import feedback_json
from trace_core import Feedback, Propagation, backward, catching, graph
from trace_core.errors import BudgetExceeded, TaskError

__all__ = ["forward", "run_eval"]

log = logging.getLogger(__name__)
_GRAPH_MAX_NODES = 400
_EXAMPLE_CHARS = 1000


def run_eval(task: Any, example: Any, output: Any) -> Feedback:
    """``task.evaluate``; a crash is a failed Feedback (systemic failures propagate)."""
    try:
        return task.evaluate(example, output)
    except (TaskError, BudgetExceeded):
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001
        return Feedback.failure(f"evaluation raised {type(e).__name__}: {e}")


def _batch(train: Sequence[Any], minibatch: int | None, seed: int, step: int) -> list[Any]:
    if not minibatch or len(train) <= minibatch:
        return list(train)
    return random.Random(f"{seed}:{step}").sample(list(train), minibatch)


def forward(task: Any, *, seed: int, step: int, minibatch: int | None, timeout: float | None
            ) -> tuple[Propagation | None, list[dict[str, Any]], str | None]:
    """Trace the task on a minibatch: the propagation (None without traced outputs), the
    feedback of each example as JSON, and the first graph as JSON (for reports; None
    when larger than the report shows)."""
    batch = _batch(list(task.train), minibatch, seed, step)

    def one(example: Any) -> tuple[Any, Feedback]:
        with catching():
            try:
                out = task.run(example)
            except (TaskError, BudgetExceeded):
                raise
            except (Exception, SystemExit) as e:  # noqa: BLE001 - a crash outside any op
                return None, Feedback.failure(f"the workflow raised {type(e).__name__}: {e}")
        return out, run_eval(task, example, out)

    threads = min(8, len(batch)) or 1
    pool = cf.ThreadPoolExecutor(threads, thread_name_prefix="tracetune-forward")
    try:
        futures = [pool.submit(contextvars.copy_context().run, one, ex) for ex in batch]
        limit = None if timeout is None else timeout * math.ceil(len(batch) / threads)
        cf.wait(futures, timeout=limit)  # the executor's timeout holds for the traced runs too
        pairs = [f.result() if f.done() else (None, Feedback.failure(f"the workflow timed out after {timeout} s"))
                 for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    nodes = [(o, f) for o, f in pairs if o is not None and hasattr(o, "parents")]
    propagated = backward(nodes) if nodes else None
    g = None
    if nodes:
        try:
            nx_graph = graph.to_networkx(nodes[0][0])
            if nx_graph.number_of_nodes() <= _GRAPH_MAX_NODES:
                g = json.dumps(graph.node_link(nx_graph), sort_keys=True)
        except Exception:  # noqa: BLE001 - the graph is for reports only
            log.debug("graph export failed", exc_info=True)
    return propagated, [feedback_json(f, _EXAMPLE_CHARS) for _, f in pairs], g
