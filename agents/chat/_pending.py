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
from agents.loop import Run
from agents.records import Candidate, Proposal
from trace_core import Feedback
from trace_core.errors import TraceTuneError

__all__ = ["dump", "load"]

log = logging.getLogger(__name__)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def dump(run: Run, pending: Proposal) -> dict[str, Any]:
    """``pending`` (proposed at ``run.step``) as JSON-able data."""
    def call(c: Any) -> dict[str, Any]:
        return {**dataclasses.asdict(c), "prompt": c.prompt[:50000], "reply": c.reply[:20000]}

    def result(r: EvalResult | None) -> dict[str, Any] | None:
        return None if r is None else {
            "feedback": r.feedback.model_dump(mode="json"), "outcome": r.outcome.value, "seconds": r.seconds,
            "per_example": [f.model_dump(mode="json") for f in r.per_example]}

    def failure(u: Any) -> dict[str, str] | None:
        return None if u.failure is None else dataclasses.asdict(u.failure)

    return _json({
        "run_id": run.run_id, "step": run.step, "best": pending.best, "train_fb": pending.train_feedback,
        "graph": pending.graph,
        "candidates": [{"values": dict(c.values), "reasoning": c.update.reasoning, "meta": c.update.meta,
                        "id": c.update.id, "failure": failure(c.update), "result": result(c.result),
                        "llm_calls": [call(x) for x in c.update.llm_calls]} for c in pending.candidates],
    })


def load(run: Run, data: dict[str, Any]) -> Proposal | None:
    """The pending proposal of ``data`` when it was made at the run's current step, else None.

    Its candidates are observed again and its spending charged again, since the optimizer
    and the budget were rebuilt from the last committed step."""
    from optimizers import LLMCall
    from optimizers.base import ProposalFailure

    if data.get("run_id") != run.run_id or data.get("step") != run.step:
        return None
    try:
        candidates = []
        for c in data["candidates"]:
            update = run.opt.update(c["values"], reasoning=c["reasoning"], meta=c["meta"], id=c["id"],
                                    llm_calls=tuple(LLMCall(**x) for x in c["llm_calls"]),
                                    failure=None if c.get("failure") is None else ProposalFailure(**c["failure"]))
            r = c.get("result")
            result = None if r is None else EvalResult(
                Feedback.model_validate(r["feedback"]), [Feedback.model_validate(f) for f in r["per_example"]],
                r["outcome"], r["seconds"])
            candidates.append(Candidate(update, run.encode(update.values), result))
    except (TraceTuneError, KeyError, TypeError, ValueError) as e:
        log.warning("the stored proposal of run %s cannot be restored: %s", run.run_id, e)
        return None
    live = run.opt.values()
    for c in candidates:
        if c.result is not None:
            run.opt.observe({**live, **c.update.values}, c.result.feedback, update=c.update)
    updates = [c.update for c in candidates]
    run.budget.charge(evaluations=sum(c.result is not None for c in candidates),
                      calls=sum(len(u.llm_calls) for u in updates), tokens=sum(u.tokens for u in updates),
                      usd=sum(u.cost_usd or 0.0 for u in updates))
    return Proposal(tuple(candidates), data.get("best"), data.get("train_fb"), data.get("graph"), time.perf_counter())
