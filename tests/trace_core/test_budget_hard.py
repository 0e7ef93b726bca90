"""Budgets are hard limits: a reservation before each request, every request charged
(retries included), and the calls of a step that a limit stops are still stored."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import RunStore, optimize
from tasks.examples.numeric import NumericTask
from trace_core import Budget
from trace_core.errors import BudgetExceeded
from trace_core.llm import Retry, ScriptedLLM, wrap
from trace_core.llm.errors import ServerError
from trace_core.llm.records import Completion, Usage


def _reply(x: float = 1.0, y: float = 1.0) -> str:
    return json.dumps({"reasoning": "closer", "suggestion": {"x": x, "y": y}, "no_change": False})


def _big(tokens: int, text: str = "", cost: float | None = 0.0) -> Completion:
    return Completion(texts=(text or _reply(),), usage=Usage(prompt_tokens=10, completion_tokens=tokens), cost_usd=cost)


def _run(tmp_path, replies, budget: Budget, **kw):
    store = RunStore(tmp_path / "runs.db")
    llm = ScriptedLLM(replies)
    result = optimize(NumericTask(), optimizer="optoprime", llm=llm, budget=budget, store=store, **kw)
    return result, store, llm


def test_a_reply_reporting_500k_tokens_is_the_last_call_of_a_5000_token_job(tmp_path):
    result, store, llm = _run(tmp_path, [_big(500_000)] + [_reply()] * 20, Budget(max_tokens=5000, max_steps=20))
    assert len(llm.requests) == 1  # nothing is sent once the limit is passed
    assert result.stop_reason == "budget max_tokens reached"
    assert result.spent["tokens"] == 500_010
    assert len(store.llm_calls(result.run_id)) == 1


def test_max_usd_is_not_passed_by_more_than_the_call_in_flight(tmp_path):
    replies = [_big(100, cost=0.4)] * 20
    result, store, llm = _run(tmp_path, replies, Budget(max_usd=1.0, max_steps=20))
    # each reservation is priced at the fake's 0 dollars, so the limit holds after the settled call
    assert result.spent["usd"] <= 1.0 + 0.4 and len(llm.requests) == 3
    assert len(store.llm_calls(result.run_id)) == len(llm.requests)


def test_retries_are_charged_to_max_calls():
    budget = Budget(max_calls=5)
    script = [ServerError("busy"), ServerError("busy"), "a", ServerError("busy"), "b", "c", "d", "e"]
    inner = ScriptedLLM(script)
    llm = wrap(inner, budget=budget, retry=Retry(base_delay_s=0))
    with pytest.raises(BudgetExceeded):
        for _ in range(8):
            llm.complete("q")
    assert len(inner.calls) == 5 and budget.spent["calls"] == 5
    assert budget.exhausted() == "max_calls"


def test_a_step_stopped_by_the_budget_still_records_its_calls(tmp_path):
    # the first reply needs a repair; the repair is refused by max_calls: both requests are stored
    result, store, llm = _run(tmp_path, ["not json"] + [_reply()] * 5, Budget(max_calls=1, max_steps=5))
    assert len(llm.requests) == 1
    rows = store.llm_calls(result.run_id)
    assert len(rows) == 1 and rows[0]["reply"] == "not json"
    assert result.stop_reason == "budget max_calls reached"
    failed = [c for c in store.candidates(result.run_id) if c["failure_kind"] == "llm"]
    assert failed and "max_calls" in failed[0]["failure"]


def test_a_refused_reservation_counts_as_the_limit_reached_until_it_is_raised():
    budget = Budget(max_tokens=100)
    with pytest.raises(BudgetExceeded):
        wrap(ScriptedLLM(["a"]), budget=budget).complete("q", max_tokens=500)
    assert budget.spent["tokens"] == 0 and budget.exhausted() == "max_tokens"
    budget.max_tokens = 10_000
    assert budget.exhausted() is None


usages = st.lists(st.one_of(st.integers(0, 3000), st.just("retry")), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(usages, st.integers(1, 4000), st.integers(1, 10), st.integers(1, 800))
def test_spent_never_passes_a_limit_by_more_than_the_call_in_flight(script, max_tokens, max_calls, reply_limit):
    budget = Budget(max_tokens=max_tokens, max_calls=max_calls)
    at_send: list[dict[str, float]] = []  # the budget as each request goes out, its reservation included
    replies = iter(script)

    def reply(messages):
        at_send.append(budget.spent)
        usage = next(replies, 0)
        return ServerError("busy") if usage == "retry" else _big(usage, "ok")

    llm = wrap(ScriptedLLM(reply), budget=budget, retry=Retry(attempts=3, base_delay_s=0))
    for _ in script:
        try:
            llm.complete("q", max_tokens=reply_limit)
        except (BudgetExceeded, ServerError):
            pass
    assert budget.spent["calls"] == len(at_send) <= max_calls  # every request, retries included, is charged
    assert all(s["tokens"] <= max_tokens and s["calls"] <= max_calls for s in at_send)
