"""Search: Optuna ask/tell over numbers, choices and Json models; shared storage; pruning."""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Literal

import optuna
import pytest
from pydantic import BaseModel, Field, model_validator

from optimizers import Search
from tasks.base import report, reporting
from trace_core import Feedback, Parameter
from trace_core.errors import ConfigError, Pruned
from trace_core.spaces import Code, Float, Int, Json, Text

ROOT = Path(__file__).resolve().parents[2]


def quadratic(v: dict) -> float:
    return (v["x"] - 0.3) ** 2 + (v["y"] + 0.5) ** 2 + 0.01 * (v["n"] - 7) ** 2


def best_of(sampler: str, seed: int, budget: int = 48) -> float:
    params = [Parameter(0.0, name="x", space=Float(-2, 2)), Parameter(0.0, name="y", space=Float(-2, 2)),
              Parameter(1, name="n", space=Int(0, 20))]
    opt = Search(params, sampler=sampler, seed=seed, direction="minimize")
    best = float("inf")
    for _ in range(budget // 4):
        for u in opt.propose(k=4):
            value = quadratic(u.values)
            best = min(best, value)
            opt.observe(u.values, Feedback(score=value), update=u)
    return best


def test_tpe_beats_random_at_equal_budget():
    seeds = range(5)
    tpe = statistics.median(best_of("tpe", s) for s in seeds)
    rnd = statistics.median(best_of("random", s) for s in seeds)
    assert tpe < rnd


def test_observe_tells_the_study_and_adds_unproposed_values():
    x = Parameter(0.5, name="x", space=Float(0, 1))
    opt = Search([x], sampler="random", seed=1)
    opt.observe(opt.values(), Feedback(score=0.25))  # the incumbent: never proposed
    a, b, c = opt.propose(k=3)
    opt.observe(dict(b.values), Feedback(score=1.0))  # matched by values
    opt.observe(a.values, Feedback.failure("crashed"), update=a)
    opt.observe(c.values, Feedback.failure("pruned", pruned=True), update=c)
    by_number = {t.number: t for t in opt.study.trials}
    assert by_number[0].params == {"x": 0.5} and by_number[0].value == 0.25
    assert by_number[b.meta["trial"]].value == 1.0
    assert by_number[a.meta["trial"]].state == optuna.trial.TrialState.FAIL
    assert by_number[c.meta["trial"]].state == optuna.trial.TrialState.PRUNED
    assert opt.study.best_trial.number == b.meta["trial"]


def test_enqueue_initial_evaluates_the_current_values_first():
    x = Parameter(0.123, name="x", space=Float(0, 1))
    assert Search([x], seed=0, enqueue_initial=True).propose(k=1)[0].values == {"x": 0.123}


class Net(BaseModel):
    depth: int = Field(2, ge=1, le=4)
    lr: float = Field(1e-3, ge=1e-5, le=1.0, json_schema_extra={"log": True})
    act: str = "relu"  # not searched: kept
    norm: bool = True
    widths: list[Annotated[int, Field(ge=4, le=64)]] = Field(default_factory=lambda: [8, 16], min_length=1,
                                                           max_length=3)
    kernel: tuple[int, int] = (3, 3)  # no bounds: kept


class Bounded(BaseModel):
    widths: list[Annotated[int, Field(ge=4, le=64)]] = Field(default_factory=lambda: [8, 16], min_length=2,
                                                           max_length=2)

    @model_validator(mode="after")
    def widths_grow(self):
        if self.widths[0] > self.widths[1]:
            raise ValueError("widths must not shrink")
        return self


def test_json_models_are_flattened_sampled_and_rebuilt():
    from optimizers import _flatten

    class Arch(BaseModel):
        depth: int = Field(2, ge=1, le=4)
        act: Literal["relu", "gelu"] = "relu"
        widths: list[Annotated[int, Field(ge=4, le=64)]] = Field(default_factory=lambda: [8], min_length=1,
                                                               max_length=3)
        drop: tuple[Annotated[float, Field(ge=0, le=0.5)], bool] = (0.1, True)
        name: str = "net"

    space = Json(Arch)
    spec = _flatten.spec_of(space)
    value = Arch(depth=3, act="gelu", widths=[4, 32, 64], drop=(0.25, False))
    flat = _flatten.flatten(spec, "arch", value)
    assert {k: v for k, (v, _) in flat.items()} == {
        "arch.depth": 3, "arch.act": "gelu", "arch.widths.len": 3, "arch.widths.0": 4, "arch.widths.1": 32,
        "arch.widths.2": 64, "arch.drop.0": 0.25, "arch.drop.1": False}
    rebuilt = _flatten.sample(spec, "arch", Arch(), lambda key, dist, cur: flat[key][0])
    assert space.validate(rebuilt) == value.model_copy(update={"name": "net"})
    assert _flatten.fixed_parts(spec, "arch") == ["arch.name: type <class 'str'> is not searched"]


def test_search_over_json_keeps_unsearched_fields_and_resumes():
    arch = Parameter(Net(act="tanh"), name="arch", space=Json(Net))
    opt = Search([arch], seed=0)
    for u in opt.propose(k=5):
        net = u.values["arch"]
        assert isinstance(net, Net) and net.act == "tanh" and net.kernel == (3, 3) and 1 <= len(net.widths) <= 3
        opt.observe(u.values, Feedback(score=net.depth + len(net.widths)), update=u)
    opt.observe(opt.values(), Feedback(score=0.0))
    fresh = Search([Parameter(Net(act="tanh"), name="arch", space=Json(Net))], seed=0)
    fresh.load_state_dict(json.loads(json.dumps(opt.state_dict())))
    assert [t.value for t in fresh.study.trials] == [t.value for t in opt.study.trials]
    assert fresh.study.best_value == opt.study.best_value


def test_samples_a_model_validator_refuses_are_failed_and_resampled():
    opt = Search([Parameter(Bounded(), name="b", space=Json(Bounded))], sampler="random", seed=3)
    for u in opt.propose(k=12):
        assert u.values["b"].widths[0] <= u.values["b"].widths[1]
    failed = [t for t in opt.study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed, "some random samples break the validator; they must be told as failed"


def test_text_and_code_are_kept_and_said_once(caplog):
    x = Parameter(0.5, name="x", space=Float(0, 1))
    prompt = Parameter("hi", name="prompt", space=Text())
    code = Parameter("def f(x):\n    return x", name="f", space=Code(name="f", args=["x"]))
    opt = Search([x, prompt, code], seed=0)
    with caplog.at_level(logging.INFO, logger="optimizers.search"):
        updates = opt.propose(k=2) + opt.propose(k=1)
    assert all(set(u.values) == {"x"} for u in updates)
    notes = [r.message for r in caplog.records if "unchanged" in r.message]
    assert len(notes) == 1 and "prompt (text)" in notes[0] and "f (code)" in notes[0]
    with pytest.raises(ConfigError, match="Evolution"):
        Search([prompt], seed=0)


def test_unknown_sampler_and_direction_mismatch_are_config_errors(tmp_path):
    x = Parameter(0.5, name="x", space=Float(0, 1))
    with pytest.raises(ConfigError, match="tpe"):
        Search([x], sampler="annealing")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    Search([x], storage=url, direction="maximize").propose(k=1)
    with pytest.raises(ConfigError, match="direction"):
        Search([x], storage=url, direction="minimize").propose(k=1)


def test_reporter_prunes_through_tasks_report():
    x = Parameter(0.5, name="x", space=Float(0, 1))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    opt = Search([x], sampler="random", seed=0, pruner=pruner)
    for _ in range(3):  # good curves complete
        [u] = opt.propose(k=1)
        with reporting(opt.reporter(u)):
            for step in range(3):
                report(step, 1.0 + step)
        opt.observe(u.values, Feedback(score=3.0), update=u)
    [u] = opt.propose(k=1)
    with reporting(opt.reporter(u)), pytest.raises(Pruned) as info:
        report(0, -5.0)
    assert info.value.step == 0
    opt.observe(u.values, Feedback.failure("pruned", pruned=True), update=u)
    assert opt.study.trials[-1].state == optuna.trial.TrialState.PRUNED
    assert opt.reporter(u) is None  # observed: nothing more to report to


WORKER = textwrap.dedent("""
    import sys
    from trace_core import Feedback, Parameter
    from trace_core.spaces import Float
    from optimizers import Search
    url, seed = sys.argv[1], int(sys.argv[2])
    opt = Search([Parameter(0.5, name="x", space=Float(0, 1))], storage=url, study_name="shared",
                 seed=seed, sampler="random", direction="minimize")
    for _ in range(3):
        for u in opt.propose(k=2):
            u_x = u.values["x"]
            opt.observe(u.values, Feedback(score=(u_x - 0.3) ** 2), update=u)
""")


def test_two_processes_share_one_sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, url, str(seed)], cwd=ROOT,
                                stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for w in workers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    opt = Search([Parameter(0.5, name="x", space=Float(0, 1))], storage=url, study_name="shared",
                 direction="minimize")
    trials = opt.study.trials
    assert len(trials) == 12 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.params["x"] for t in trials}) == 12  # two seeds: two workers' own points
    state = json.loads(json.dumps(opt.state_dict()))
    assert state["storage"] == url and "trials" not in state  # the storage holds them


def test_a_journal_file_is_shared_and_pending_trials_survive_a_resume(tmp_path):
    url = str(tmp_path / "study.log")
    x = Parameter(0.5, name="x", space=Float(0, 1))
    a = Search([x], storage=url, seed=1)
    b = Search([x], storage=url, seed=2)
    ua, ub = a.propose(k=1)[0], b.propose(k=1)[0]
    a.observe(ua.values, Feedback(score=1.0), update=ua)
    state = json.loads(json.dumps(b.state_dict()))
    resumed = Search([x], storage=url, seed=2)
    resumed.load_state_dict(state)
    assert resumed.reporter(ub) is not None
    resumed.observe(ub.values, Feedback(score=2.0), update=ub)
    assert sorted(t.value for t in a.study.trials) == [1.0, 2.0]


def test_cmaes_without_its_package_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cmaes", None)  # as if it were not installed
    with pytest.raises(ConfigError, match="pip install cmaes"):
        Search([Parameter(0.5, name="x", space=Float(0, 1))], sampler="cmaes")


def test_workers_share_one_postgresql_study():
    import os
    import uuid

    from tests.conftest import postgres_url

    url = postgres_url()
    name = f"test-{uuid.uuid4().hex[:8]}"
    x = Parameter(0.5, name="x", space=Float(0, 1))
    a, b = (Search([x], storage=url, study_name=name, seed=s, sampler="random") for s in (1, 2))
    for opt in (a, b, a):
        [u] = opt.propose(k=1)
        opt.observe(u.values, Feedback(score=u.values["x"]), update=u)
    assert len(b.study.trials) == 3 and b.study.best_value == max(t.value for t in a.study.trials)
    optuna.delete_study(study_name=name, storage=url)


def test_choices_of_tuples_and_enums_are_searched_and_resume():
    import enum

    from trace_core.spaces import Choice

    class Opt(enum.Enum):
        ADAM = "adam"
        SGD = "sgd"

    def make():
        return [Parameter((64, 64), name="hidden", space=Choice([(32,), (64, 64), (128, 64, 32)])),
                Parameter(Opt.ADAM, name="opt", space=Choice(list(Opt)))]

    opt = Search(make(), sampler="random", seed=0)
    seen = set()
    for _ in range(12):
        [u] = opt.propose()
        seen.add((u.values["hidden"], u.values["opt"]))
        opt.observe(u.values, Feedback(score=len(u.values["hidden"]) + (u.values["opt"] is Opt.SGD)), update=u)
    assert {h for h, _ in seen} == {(32,), (64, 64), (128, 64, 32)} and {o for _, o in seen} == set(Opt)
    opt.observe({"hidden": [32], "opt": "adam"}, Feedback(score=0.0))  # JSON data, as a store gives it back
    fresh = Search(make(), sampler="random", seed=0)
    fresh.load_state_dict(json.loads(json.dumps(opt.state_dict())))
    assert len(fresh.study.trials) == 13
    [u] = fresh.propose()
    assert u.values["hidden"] in {(32,), (64, 64), (128, 64, 32)} and isinstance(u.values["opt"], Opt)


def test_storage_as_a_file_path_and_a_bad_storage_says_what_to_pass(tmp_path):
    x = Parameter(0.5, name="x", space=Float(0, 1))
    for storage in (tmp_path / "study.db", str(tmp_path / "study.log")):
        opt = Search([x], "random", 0, storage)  # sampler, seed, storage may be positional
        [u] = opt.propose()
        opt.observe(u.values, Feedback(score=1.0), update=u)
        state = json.loads(json.dumps(opt.state_dict()))
        fresh = Search([x], "random", 0, storage)
        fresh.load_state_dict(state)
        assert len(fresh.study.trials) == 1
    with pytest.raises(ConfigError, match="not an Optuna storage URL"):
        Search([x], storage="study").propose()
