"""optimizers.default: OptoPrime with an LLM, else Search (+ Evolution for Text), and it says which."""

from __future__ import annotations

import logging

import pytest

import optimizers
from optimizers import Composite, Evolution, Search, default
from trace_core import Feedback, Parameter
from trace_core.errors import ConfigError
from trace_core.llm import ScriptedLLM
from trace_core.spaces import Code, Float, Text


@pytest.fixture(autouse=True)
def no_env_llm(monkeypatch):
    monkeypatch.delenv("TRACETUNE_LLM", raising=False)


def params():
    return {"x": Parameter(0.5, name="x", space=Float(0, 1)),
            "prompt": Parameter("be brief", name="prompt", space=Text()),
            "f": Parameter("def f(x):\n    return x", name="f", space=Code(name="f", args=["x"]))}


def test_without_an_llm_numbers_go_to_search_and_text_to_evolution(caplog):
    p = params()
    with caplog.at_level(logging.INFO, logger="optimizers._default"):
        assert type(default([p["x"]], seed=0)) is Search
        assert type(default([p["prompt"]], seed=0, vocabulary=["exact"])) is Evolution
        both = default(list(p.values()), seed=0, direction="minimize")
    assert isinstance(both, Composite) and [type(o) for o in both.parts] == [Search, Evolution]
    assert both.parts[0].by_name.keys() == {"x", "f"} and both.direction == "minimize"
    both.direction = "maximize"  # the loop sets it from the task
    assert all(o.direction == "maximize" for o in both.parts)
    [u] = both.propose(k=1)
    assert set(u.values) == {"x", "prompt"} and not both.needs_trace
    both.observe({**both.values(), **u.values}, Feedback(score=1.0), update=u)
    assert both.parts[0].study.trials[0].value == 1.0 and both.parts[1].population[0]["score"] == 1.0
    said = [r.message for r in caplog.records]
    assert any("Search (tpe) for ['x', 'f'] + Evolution for ['prompt']" in m for m in said)


def test_code_alone_needs_an_llm():
    with pytest.raises(ConfigError, match="TRACETUNE_LLM"):
        default([params()["f"]])


def test_with_an_llm_given_or_configured_it_is_optoprime(monkeypatch, caplog):
    llm = ScriptedLLM(['{"reasoning": "r", "suggestion": {"x": 0.25}, "no_change": false}'])
    with caplog.at_level(logging.INFO, logger="optimizers._default"):
        opt = default(list(params().values()), llm=llm, objective="small x")
    assert type(opt) is optimizers.OptoPrime
    assert "OptoPrime with scripted" in caplog.text
    monkeypatch.setattr("trace_core.llm.llm_from_env", lambda: ScriptedLLM([]))
    assert type(default([params()["x"]])) is optimizers.OptoPrime


def test_composite_refuses_a_parameter_in_two_parts():
    x = params()["x"]
    with pytest.raises(ConfigError, match="two optimizers"):
        Composite([Search([x]), Search([x])])
