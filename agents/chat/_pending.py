"""A pending proposal as JSON, kept with the session record, so a proposal shown before
the process exited can still be accepted or rejected after a restart (and an approval
question asked before the restart can still be answered)."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

from agents.evaluate import EvalResult
from agents.loop import Pending, Run
from trace_core import Feedback
from trace_core.errors import TraceTuneError

__all__ = ["dump", "load"]

log = logging.getLogger(__name__)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def dump(run: Run, pending: Pending) -> dict[str, Any]:
    """``pending`` (proposed at ``run.step``) as JSON-able data."""
    def values(v: dict[str, Any]) -> dict[str, Any]:
        return {n: run.params[n].space.to_json(x) if n in run.params else x for n, x in v.items()}

    def call(c: Any) -> dict[str, Any]:
        return {**dataclasses.asdict(c), "prompt": c.prompt[:50000], "reply": c.reply[:20000]}

    index = {id(u): i for i, u in enumerate(pending.updates)}
    return _json({
        "run_id": run.run_id, "step": run.step, "best": pending.best, "train_fb": pending.train_fb,
        "graph": pending.graph, "todo": [index[id(u)] for u in pending.todo],
        "updates": [{"values": values(u.values), "reasoning": u.reasoning, "meta": u.meta, "id": u.id,
                     "llm_calls": [call(c) for c in u.llm_calls]} for u in pending.updates],
        "results": [{"feedback": r.feedback.model_dump(mode="json"), "status": r.status, "seconds": r.seconds,
                     "per_example": [f.model_dump(mode="json") for f in r.per_example]} for r in pending.results],
    })


def load(run: Run, data: dict[str, Any]) -> Pending | None:
    """The pending proposal of ``data`` when it was made at the run's current step, else None.

    Its candidates are observed again and its spending charged again, since the optimizer
    and the budget were rebuilt from the last committed step."""
    from optimizers import LLMCall, Update

    if data.get("run_id") != run.run_id or data.get("step") != run.step:
        return None
    try:
        updates = [Update(run.opt.validate(u["values"]), reasoning=u["reasoning"], meta=u["meta"], id=u["id"],
                          llm_calls=tuple(LLMCall(**c) for c in u["llm_calls"])) for u in data["updates"]]
        results = [EvalResult(Feedback.model_validate(r["feedback"]),
                              [Feedback.model_validate(f) for f in r["per_example"]], r["status"], r["seconds"])
                   for r in data["results"]]
        todo = [updates[i] for i in data["todo"]]
    except (TraceTuneError, KeyError, TypeError, ValueError) as e:
        log.warning("the stored proposal of run %s cannot be restored: %s", run.run_id, e)
        return None
    live = run.opt.values()
    for update, result in zip(todo, results):
        run.opt.observe({**live, **update.values}, result.feedback, update=update)
    calls = [c for u in updates for c in u.llm_calls]
    run.budget.charge(evaluations=len(todo), calls=len(calls), tokens=sum(u.tokens for u in updates),
                      usd=sum(u.cost_usd for u in updates))
    return Pending(updates, todo, results, data.get("best"), data.get("train_fb"), data.get("graph"),
                   time.perf_counter())
