"""The shared optimizer contract: every optimizer passes the same tests.

Search (each sampler), Evolution (word and LLM operators), the default composite
(Search + Evolution), OptoPrime and OPRO (with ScriptedLLM) propose k valid updates,
never let an invalid value reach a parameter, refuse two parameters with one name,
roll back, survive failed evaluations and resume from a JSON state dict.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math

import pytest
from pydantic import BaseModel, Field

import optimizers
from optimizers import Composite, Evolution, Optimizer, Search, Update
from trace_core import Feedback, Parameter
from trace_core.errors import ConfigError, InvalidProposal
from trace_core.llm import ScriptedLLM
from trace_core.spaces import Choice, Float, Int, Json, Text


class Arch(BaseModel):
    width: int = Field(8, ge=4, le=32)
    dropout: float = Field(0.1, ge=0.0, le=0.5)
    norm: bool = True


def make_params() -> list[Parameter]:
    return [
        Parameter(0.01, name="lr", space=Float(1e-4, 1.0, log=True)),
        Parameter(2, name="layers", space=Int(1, 6)),
        Parameter("relu", name="act", space=Choice(["relu", "tanh", "gelu"])),
        Parameter(Arch(), name="arch", space=Json(Arch)),
        Parameter("answer the question", name="prompt", space=Text(max_chars=120)),
    ]


def score(values: dict) -> float:
    arch = values["arch"]
    return (-abs(math.log10(values["lr"]) + 2) - abs(values["layers"] - 3) - arch.dropout
            + (values["act"] == "gelu") + 0.1 * len(set(values["prompt"].split()) & {"briefly", "exact"}))


def scripted() -> ScriptedLLM:
    """Answers every prompt with a new, valid suggestion in the shared reply format."""
    count = itertools.count()

    def reply(messages):
        i = next(count)
        return json.dumps({"reasoning": "shorter and more exact", "no_change": False,
                           "suggestion": {"prompt": f"answer the question briefly and exact {i}"}})

    return ScriptedLLM(reply)


def _lazy(name: str):
    def make(params):
        return getattr(optimizers, name)(params, scripted())
    return make


def _cmaes(params):
    if importlib.util.find_spec("cmaes") is None:
        pytest.skip("sampler='cmaes' needs the cmaes package, which is not installed")
    return Search(params, sampler="cmaes", seed=0)


FACTORIES = {
    "search-tpe": lambda ps: Search(ps, sampler="tpe", seed=0),
    "search-random": lambda ps: Search(ps, sampler="random", seed=0),
    "search-gp": lambda ps: Search(ps, sampler="gp", seed=0),
    "search-cmaes": _cmaes,
    "evolution": lambda ps: Evolution(ps, seed=0, vocabulary=["briefly", "exact"]),
    "evolution-llm": lambda ps: Evolution(ps, seed=0, llm=scripted()),
    "composite": lambda ps: Composite([Search(ps[:4], seed=0), Evolution(ps[4:], seed=0)]),
    "optoprime": _lazy("OptoPrime"),
    "opro": _lazy("OPRO"),
}


@pytest.fixture(params=sorted(FACTORIES))
def factory(request):
    return FACTORIES[request.param]


def _json(values: dict, opt: Optimizer) -> str:
    return json.dumps({n: opt.by_name[n].space.to_json(v) for n, v in values.items()}, sort_keys=True)


def _run(opt: Optimizer, rounds: int = 2, k: int = 2) -> None:
    for _ in range(rounds):
        for u in opt.propose(None, k=k):
            opt.observe({**opt.values(), **u.values}, Feedback(score=score({**opt.values(), **u.values})), update=u)


def test_propose_returns_k_valid_updates(factory):
    params = make_params()
    opt = factory(params)
    before = _json(opt.values(), opt)
    opt.observe(opt.values(), Feedback(score=score(opt.values())))
    updates = opt.propose(None, k=3)
    assert len(updates) == 3 and all(isinstance(u, Update) for u in updates)
    for u in updates:
        assert set(u.values) <= set(opt.by_name)
        assert _json(opt.validate(u.values), opt) == _json(u.values, opt)
    assert _json(opt.values(), opt) == before, "propose must not touch the live parameters"
    assert any(not u.no_change for u in updates)
    reporter = opt.reporter(updates[0])
    assert reporter is None or callable(reporter.report)


def test_apply_then_rollback_restores(factory):
    opt = factory(make_params())
    before = _json(opt.values(), opt)
    update = next(u for u in opt.propose(None, k=2) if not u.no_change)
    opt.apply(update)
    after = opt.values()
    assert all(_json({n: after[n]}, opt) == _json({n: v}, opt) for n, v in update.values.items())
    assert opt.rollback() is True
    assert _json(opt.values(), opt) == before
    assert opt.rollback() is False


def test_invalid_values_never_reach_parameters(factory):
    opt = factory(make_params())
    before = _json(opt.values(), opt)
    for bad in ({"lr": 5.0, "prompt": "fine"}, {"act": "swish"}, {"arch": {"width": 1000}}, {"nope": 1},
                {"prompt": "x" * 500}):
        with pytest.raises(InvalidProposal):
            opt.apply(Update(bad))
        assert _json(opt.values(), opt) == before


def test_two_parameters_with_one_name_are_refused(factory):
    params = make_params()
    params.append(Parameter(0.5, name="lr", space=Float(0, 1)))
    with pytest.raises(ConfigError, match="lr"):
        factory(params)


def test_state_dict_json_round_trip_then_continue(factory):
    opt = factory(make_params())
    opt.observe(opt.values(), Feedback(score=score(opt.values())))
    _run(opt)
    pending = opt.propose(None, k=1)[0]  # proposed before the save, observed after the resume
    state = json.loads(json.dumps(opt.state_dict()))
    fresh = factory(make_params())
    fresh.load_state_dict(state)
    assert json.loads(json.dumps(fresh.state_dict())).keys() == state.keys()
    fresh.observe({**fresh.values(), **pending.values}, Feedback(score=1.0), update=pending)
    _run(fresh, rounds=1)
    for u in fresh.propose(None, k=2):
        fresh.validate(u.values)
    json.dumps(fresh.state_dict())


def test_observe_failures_and_foreign_values(factory):
    opt = factory(make_params())
    updates = opt.propose(None, k=4)
    values = [{**opt.values(), **u.values} for u in updates]
    opt.observe(values[0], Feedback.failure("the workflow raised ValueError"), update=updates[0])
    opt.observe(values[1], Feedback(score=float("nan")), update=updates[1])
    opt.observe(values[2], Feedback.failure("pruned at step 2", pruned=True), update=updates[2])
    opt.observe(values[3], Feedback(), update=updates[3])  # no score at all
    opt.observe(opt.values(), Feedback(score=0.0))  # values never proposed (the incumbent)
    opt.observe({"lr": 99.0}, Feedback(score=1.0))  # outside the space: ignored, not raised
    assert len(opt.propose(None, k=2)) == 2


def test_step_applies_one_valid_update(factory):
    opt = factory(make_params())
    update = opt.step(None)
    assert _json({n: opt.values()[n] for n in update.values}, opt) == _json(update.values, opt)
