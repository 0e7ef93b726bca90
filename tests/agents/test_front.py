"""A multi-objective run keeps its front: acceptance, the stored front per step,
resume, constraints, the reference point, and Search taking the task's objectives."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import optuna
import pytest

from agents import RunStore, optimize, resume
from agents._front import Front, compare_points, contributions, reference_for
from agents._schema import SCHEMA_VERSION
from optimizers.base import Optimizer, Update
from tasks.examples.numeric import NumericTask
from tests.agents._mo import TwoObjectives, objectives
from trace_core import Budget, Objectives, hypervolume
from trace_core.errors import ConfigError


class Fixed(Optimizer):
    """Proposes the values it is given, one list per step."""

    needs_trace = False

    def __init__(self, params: Any, steps: list[list[dict[str, float]]]):
        super().__init__(params)
        self.steps = steps

    def propose(self, propagated: Any = None, k: int = 1) -> list[Update]:
        return [Update(v) for v in self.steps.pop(0)]


A, B, C = {"x": 0.2, "y": 0.0}, {"x": 0.8, "y": 0.0}, {"x": 0.9, "y": 0.5}  # f: (.2, .64) (.8, .04) (.9, .26)
D = {"x": 0.5, "y": 0.0}  # f: (.5, .25), dominates the start (.5, .5)


def _run(steps: list[list[dict[str, float]]], store: RunStore, task: Any = None, **kw: Any) -> Any:
    task = task or TwoObjectives()
    return optimize(task, optimizer=Fixed(task.parameters(), steps), budget=Budget(max_steps=len(steps)),
                    k=3, store=store, executor="serial", **kw)


def _members(front: dict[str, Any]) -> list[tuple[int, int]]:
    return [(m["step"], m["candidate"]) for m in front["members"]]


def test_every_non_dominated_candidate_is_kept_not_one_best() -> None:
    store = RunStore("sqlite://")
    result = _run([[A, B, C], [D], [C]], store)
    rid = result.run_id
    assert _members(store.front(rid, 0)) == [(0, 0)]
    assert _members(store.front(rid, 1)) == [(0, 0), (1, 0), (1, 1)]  # A and B both kept; C is dominated by B
    assert _members(store.front(rid, 2)) == [(1, 0), (1, 1), (2, 0)]  # D dominates the start, which leaves
    assert _members(store.front(rid)) == _members(store.front(rid, 2))  # step 3 (C again) changes nothing
    assert [h.accepted for h in result.history] == [True, True, True, False]
    assert [h.front_size for h in result.history] == [1, 3, 3, 3]
    # the live values move to the entering candidate with the best first objective (A of A and B, then D)
    assert [s["values"] for s in store.steps(rid)][1:] == [A, D, D]
    assert result.best_values == D
    assert result.best_score == pytest.approx(0.2)  # the best first objective on the front (A)
    front = result.front
    assert [m["objectives"] for m in front["members"]] == [pytest.approx(list(objectives(**v).values()))
                                                            for v in (A, B, D)]
    assert front["members"][2]["values"] == D and front["members"][2]["changed"] == {"x": 0.5}  # y was 0 before
    senses = ("minimize", "minimize")
    assert front["hypervolume"] == pytest.approx(hypervolume([m["objectives"] for m in front["members"]],
                                                             front["reference"], senses))
    volumes = [f["hypervolume"] for f in store.fronts(rid)]
    assert volumes == sorted(volumes) and volumes[2] > volumes[1] > volumes[0]


def test_a_single_objective_run_keeps_no_front_and_accepts_as_before() -> None:
    store = RunStore("sqlite://")
    task = NumericTask()
    opt = Fixed(task.parameters(), [[{"x": 1.0, "y": 0.0}, {"x": 3.0, "y": -1.0}], [{"x": 0.0, "y": 0.0}]])
    result = optimize(task, optimizer=opt, budget=Budget(max_steps=2), k=2, store=store, executor="serial")
    assert result.front is None and store.front(result.run_id) is None and store.fronts(result.run_id) == []
    assert [h.accepted for h in result.history] == [True, True, False]
    assert [h.front_size for h in result.history] == [None] * 3
    assert result.best_values == {"x": 3.0, "y": -1.0}
    assert "objectives" not in store.get_run(result.run_id)["config"]


def test_infeasible_and_failed_candidates_never_enter_the_front() -> None:
    store = RunStore("sqlite://")
    task = TwoObjectives(constraints=("f1 >= 0.3",))
    result = _run([[A, B, {"x": 2.0, "y": 0.0}]], store, task=task)  # A breaks the constraint; x=2 is invalid
    assert _members(store.front(result.run_id)) == [(0, 0), (1, 1)]
    assert store.get_run(result.run_id)["config"]["objectives"]["constraints"] == ["f1 >= 0.3"]


def test_a_declared_reference_point_is_the_one_every_step_uses() -> None:
    store = RunStore("sqlite://")
    result = _run([[A, B], [D]], store, task=TwoObjectives(reference_point=(1.0, 1.0)))
    assert {tuple(f["reference"]) for f in store.fronts(result.run_id)} == {(1.0, 1.0)}
    points = [list(objectives(**v).values()) for v in (A, B, D)]
    assert result.front["hypervolume"] == pytest.approx(hypervolume(points, (1.0, 1.0), ("minimize", "minimize")))


def test_a_reference_point_of_the_wrong_size_is_refused_with_what_to_give() -> None:
    with pytest.raises(ValueError, match="2 finite numbers"):
        _run([[A]], RunStore("sqlite://"), task=TwoObjectives(reference_point=(1.0,)))


def test_a_resumed_run_goes_on_with_its_front(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    first = _run([[A, B]], RunStore(db))
    task = TwoObjectives()
    opt = Fixed(task.parameters(), [[C], [D]])  # C is dominated by B, kept before the resume
    result = resume(first.run_id, store=db, task=task, optimizer=opt, budget=Budget(max_steps=3))
    assert [(h.step, h.accepted) for h in result.history] == [(2, False), (3, True)]
    assert _members(RunStore(db).front(first.run_id)) == [(1, 0), (1, 1), (3, 0)]


def test_search_takes_the_task_objectives_and_asks_what_optuna_asks() -> None:
    store = RunStore("sqlite://")
    result = optimize(TwoObjectives(), optimizer={"name": "search", "sampler": "nsga2"}, seed=5,
                      budget=Budget(max_steps=12), store=store, executor="serial", evaluate_start=False)
    direct = optuna.create_study(directions=["minimize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=5))
    direct.optimize(lambda t: tuple(objectives(t.suggest_float("x", 0, 1), t.suggest_float("y", -1, 1)).values()),
                    n_trials=12)
    asked = [c["values"] for c in store.candidates(result.run_id) if c["step"] > 0]
    assert asked == [t.params for t in direct.trials]
    # the run's front is Optuna's Pareto front of the same trials (each step asked one trial)
    expected = {t.number for t in direct.best_trials}
    assert {m["step"] - 1 for m in result.front["members"]} == expected


def test_the_reference_rule_sits_past_the_worst_values_by_a_tenth_of_the_range() -> None:
    ref = reference_for([(0.0, 10.0), (1.0, 2.0)], ("maximize", "minimize"))
    assert ref == pytest.approx((-0.1, 10.8))
    assert reference_for([(2.0, 0.0)], ("minimize", "minimize")) == pytest.approx((2.2, 1.0))
    assert reference_for([], ("minimize",)) is None


def test_fronts_of_two_runs_are_compared_against_one_reference_point() -> None:
    senses = ("minimize", "minimize")
    this, before, ref = compare_points([(0.2, 0.6), (0.6, 0.2)], [(0.5, 0.5)], senses)
    assert ref == pytest.approx((0.64, 0.64))  # worst 0.6 + a tenth of the range 0.4
    assert this > before > 0
    assert compare_points([(0.5, 0.5)], [(0.5, 0.5)], senses, reference=(1.0, 1.0))[:2] == (0.25, 0.25)
    assert contributions([(0.2, 0.6), (0.6, 0.2)], senses, (1.0, 1.0)) == pytest.approx([0.16, 0.16])


def test_front_offers_keep_duplicates_and_drop_what_a_new_point_dominates() -> None:
    front = Front(Objectives.of({"a": "maximize", "b": "maximize"}), reference=(0.0, 0.0))
    assert front.add(1, [(0, {"a": 1.0, "b": 1.0}), (1, {"a": 1.0, "b": 1.0})]) == [0, 1]
    assert front.add(2, [(0, {"a": 2.0, "b": 1.0}), (1, {"a": 0.5})]) == [0]  # a missing objective never enters
    assert [(m.step, m.candidate) for m in front.members] == [(2, 0)] and front.hypervolume() == 2.0


def test_a_version_3_store_opens_as_version_4_and_keeps_fronts(tmp_path: Path) -> None:
    db = tmp_path / "v3.db"
    old = _run([[A]], RunStore(db), task=NumericTask())  # a single-objective run, as a version 3 store holds
    with sqlite3.connect(db) as c:  # version 3: the same tables but the fronts
        c.execute("drop table fronts")
        c.execute("drop table front_members")
        c.execute("update store_info set value = '3' where key = 'schema_version'")
    store = RunStore(db)
    with sqlite3.connect(db) as c:
        assert c.execute("select value from store_info").fetchone() == (str(SCHEMA_VERSION),) == ("4",)
        tables = {r[0] for r in c.execute("select name from sqlite_master where type='table'")}
    assert {"fronts", "front_members"} <= tables
    assert store.get_run(old.run_id)["status"] == "finished" and store.front(old.run_id) is None
    new = _run([[A, B]], store)
    assert _members(store.front(new.run_id)) == [(0, 0), (1, 0), (1, 1)]


def test_resuming_with_other_objectives_is_refused_with_both_named(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    first = _run([[A]], RunStore(db))
    task = TwoObjectives()
    task.objectives = {"f2": "minimize", "f1": "minimize"}
    with pytest.raises(ConfigError, match=r"over f1 \(minimize\), f2 \(minimize\), but the task now has f2"):
        resume(first.run_id, store=db, task=task, optimizer=Fixed(task.parameters(), [[B]]),
               budget=Budget(max_steps=2))


def test_an_objective_the_feedback_never_measures_is_named_once_and_the_run_goes_on(caplog: Any) -> None:
    store = RunStore("sqlite://")
    task = TwoObjectives()
    task.objectives = {"f1": "minimize", "f3": "minimize"}  # f3: a misspelt objective
    with caplog.at_level("WARNING", logger="agents._front"):
        result = _run([[A, B], [D]], store, task=task)
    told = [r.getMessage() for r in caplog.records if "'f3'" in r.getMessage()]
    assert len(told) == 1 and "missing from" in told[0] and "(it has: f1, f2)" in told[0]
    assert result.front["members"] == [] and len(result.history) == 3
