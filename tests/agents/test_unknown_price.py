"""Unknown prices stay unknown (``$?``), and max_usd on such a model is a warning, or a
problem when it is the job's only limit."""

from __future__ import annotations

import json
import logging

import pytest

from agents import RunStore, optimize
from agents._cli_views import _spent, _step_usd
from agents.jobs import JobError, parse_job
from tasks.examples.numeric import NumericTask
from trace_core import Budget
from trace_core.budget import format_usd
from trace_core.llm import ScriptedLLM
from trace_core.llm.records import Completion, Usage

UNKNOWN = "openai/a-local-model-with-no-price"


def _job(budget: dict, model: str = UNKNOWN) -> dict:
    return {"name": "j", "task": {"name": "numeric"}, "llm": {"model": model}, "budget": budget}


def test_max_usd_as_the_only_limit_on_an_unpriced_model_is_a_problem(tmp_path):
    with pytest.raises(JobError) as e:
        parse_job(_job({"max_usd": 1.0}), base_dir=tmp_path)
    assert any("price" in p and "max_calls" in p for p in e.value.problems)


def test_max_usd_beside_other_limits_is_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        job = parse_job(_job({"max_usd": 1.0, "max_calls": 5}), base_dir=tmp_path)
    assert job.budget.max_usd == 1.0 and "price" in caplog.text and UNKNOWN in caplog.text


def test_a_priced_model_takes_max_usd_alone(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        parse_job(_job({"max_usd": 1.0}, "openai/gpt-4o-mini"), base_dir=tmp_path)
    assert "price" not in caplog.text


def _unpriced(x: float) -> Completion:
    text = json.dumps({"reasoning": "r", "suggestion": {"x": x, "y": 0.0}, "no_change": False})
    return Completion(texts=(text,), usage=Usage(prompt_tokens=50, completion_tokens=20), cost_usd=None, model=UNKNOWN)


def test_unknown_prices_are_stored_and_shown_as_unknown(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    result = optimize(NumericTask(), optimizer="optoprime", llm=ScriptedLLM([_unpriced(i + 1) for i in range(3)]),
                      budget=Budget(max_steps=2), store=store)
    assert result.cost_usd is None and all(r.cost_usd is None for r in result.history[1:])
    steps = store.steps(result.run_id)
    assert steps[1]["cost_usd"] is None and steps[1]["tokens"] == 70 and _step_usd(steps[1]) == "?"
    assert steps[0]["cost_usd"] == 0 and _step_usd(steps[0]) == "0.0000"
    spent = store.get_run(result.run_id)["spent"]
    assert spent["unpriced_calls"] == 2 and "usd $?" in _spent(spent)
    assert format_usd(0.25, unpriced=1) == "$0.2500+?"


def test_reports_and_chat_views_say_unknown_not_zero_for_unpriced_steps():
    from trace_core.budget import usd_of

    steps = [{"cost_usd": None, "tokens": 0}, {"cost_usd": None, "tokens": 812}]
    assert usd_of(steps) == "$?"
    assert usd_of([{"cost_usd": 0.002, "tokens": 10}, {"cost_usd": None, "tokens": 5}]) == "$0.0020+?"
    assert usd_of([{"cost_usd": None, "prompt_tokens": 3, "completion_tokens": 4}]) == "$?"  # a call row
    assert usd_of([{"cost_usd": None, "tokens": 0}]) == "$0.0000"  # no LLM spent: nothing unknown
