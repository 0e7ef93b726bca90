"""Typed step records, outcomes as data, stores written by older versions, and Search
through the loop equal to plain Optuna."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import optuna
import pytest

from agents import RunStore, optimize, resume
from agents._schema import SCHEMA_VERSION
from agents.evaluate import EvalResult, evaluate_values
from agents.records import Candidate, StepOutcome
from optimizers import Search
from optimizers.base import Optimizer, ProposalFailure, Update
from tasks.base import BaseTask
from tasks.examples.numeric import NumericTask
from trace_core import Budget, Feedback, Outcome, Parameter, score
from trace_core.errors import ConfigError, InvalidProposal
from trace_core.spaces import Float

V1 = Path(__file__).parent / "data" / "store_v1.db"  # written by the store before version 2 (see data/README.md)


def _v1_copy(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    shutil.copy(V1, db)
    return db


def test_a_version_1_store_opens_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    db = _v1_copy(tmp_path)
    store = RunStore(db)
    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master where type='table'")}
    assert "snapshots" not in tables and "store_info" in tables
    assert sqlite3.connect(db).execute("select value from store_info").fetchone() == (str(SCHEMA_VERSION),)
    run = store.get_run("v1search")
    assert run["status"] == "finished" and run["best_score"] == pytest.approx(11.25)
    assert store.snapshot("v1search", 2) == {"x": 0.0, "y": 0.0}  # a step's values are its snapshot
    opto = store.candidates("v1opto")
    assert [c["status"] for c in opto] == ["done", "done", "no change"] and opto[2]["failure_kind"] is None
    assert store.tally("v1search")["outcomes"] == {"done": 5}


def test_a_version_1_run_resumes_with_its_trials(tmp_path: Path) -> None:
    db = _v1_copy(tmp_path)
    result = resume("v1search", store=db, budget=Budget(max_steps=7))
    assert [r.step for r in result.history] == [5, 6, 7]
    assert result.outcomes == {"done": 8}  # 5 evaluations before the resume, 3 after
    states = RunStore(db).optimizer_states("v1search")
    assert len(states[4]["trials"]) == 5 and "delta" not in states[4]  # as version 1 wrote them
    assert states[5]["delta"] and len(states[5]["trials"]) == 1  # a step writes its own trial only


def test_a_store_of_a_newer_version_is_refused_with_its_version(tmp_path: Path) -> None:
    db = _v1_copy(tmp_path)
    RunStore(db)
    with sqlite3.connect(db) as c:
        c.execute("update store_info set value = '99' where key = 'schema_version'")
    with pytest.raises(ConfigError, match=f"schema version 99.*up to {SCHEMA_VERSION}"):
        RunStore(db)


def test_the_step_values_are_the_snapshot_and_rollback_reads_them() -> None:
    store = RunStore("sqlite://")
    result = optimize(NumericTask(), optimizer="search:random", budget=Budget(max_steps=3), store=store,
                      executor="serial")
    for row in store.steps(result.run_id):
        assert store.snapshot(result.run_id, row["step"]) == row["values"]


class Fixed(Optimizer):
    """Proposes the updates it is given, one list per step."""

    needs_trace = False

    def __init__(self, params: Any, steps: list[list[Update]]):
        super().__init__(params)
        self.steps = steps

    def propose(self, propagated: Any = None, k: int = 1) -> list[Update]:
        return self.steps.pop(0)


def test_proposal_failures_are_typed_and_counted() -> None:
    task = NumericTask()
    llm_down = Update({}, failure=ProposalFailure("llm", "connection refused"))
    bad_reply = Update({}, failure=ProposalFailure("reply", "not JSON"))
    opt = Fixed(task.parameters(), [[llm_down, bad_reply], [Update({"x": 3.0, "y": -1.5})]])
    store = RunStore("sqlite://")
    result = optimize(task, optimizer=opt, budget=Budget(max_steps=2), k=2, store=store, executor="serial")
    assert result.proposal_failures == {"llm": 1, "reply": 1} and result.outcomes == {"done": 2}
    rows = store.candidates(result.run_id, step=1)
    assert [(r["status"], r["failure_kind"], r["failure"]) for r in rows] == [
        ("no change", "llm", "connection refused"), ("no change", "reply", "not JSON")]
    assert result.best_score == pytest.approx(0.0)


class Flaky(BaseTask):
    """Each example fails its own way, chosen by the value of ``mode``."""

    name = "flaky"
    direction = "maximize"
    train = val = [0, 1]

    def __init__(self) -> None:
        super().__init__()
        self.mode = Parameter(0.0, name="mode", space=Float(0, 10))

    def parameters(self) -> list[Parameter]:
        return [self.mode]

    def run(self, example: Any) -> Any:
        mode = self.mode.value
        if mode == 1:
            raise InvalidProposal("the code of f fails when defined")
        if mode == 2:
            raise TimeoutError("f ran past its time limit")
        if mode == 3 or (mode == 4 and example == 0):
            raise RuntimeError("boom")
        return mode

    def evaluate(self, example: Any, output: Any) -> Feedback:
        return Feedback(score=float(output))


@pytest.mark.parametrize("mode, outcome", [(0, Outcome.DONE), (1, Outcome.INVALID), (2, Outcome.TIMEOUT),
                                           (3, Outcome.FAILED), (4, Outcome.DONE)])
def test_every_evaluation_ends_in_an_outcome(mode: float, outcome: Outcome) -> None:
    task = Flaky()
    result = evaluate_values(task, {"mode": float(mode)}, task.val)
    assert result.outcome is outcome and result.status == outcome.value
    assert (score(result.feedback) is None) == (outcome is not Outcome.DONE)


def test_an_outcome_given_as_text_becomes_an_outcome_and_nan_is_no_score() -> None:
    result = EvalResult(Feedback(score=float("nan")), [], "timeout")
    assert result.outcome is Outcome.TIMEOUT and score(result.feedback) is None


def test_the_store_maps_a_step_outcome_to_its_tables() -> None:
    store = RunStore("sqlite://")
    run_id = store.create_run(name="r", task="t", config={})
    update = Update({"x": 1.0}, reasoning="try one")
    fb = Feedback(score=2.0, text="ok")
    cand = Candidate(update, {"x": 1.0}, EvalResult(fb, [fb, Feedback.failure("bad")], Outcome.DONE))
    store.commit(run_id, StepOutcome(0, {"x": 1.0}, 2.0, True, (cand,), 2.0, {"s": 1}, {"steps": 0}, 0.5,
                                     initial_score=2.0))
    store.commit(run_id, StepOutcome(0, {"x": 9.0}, 9.0, True))  # a committed step is not written twice
    (step,) = store.steps(run_id)
    assert step["values"] == {"x": 1.0} and step["incumbent_score"] == 2.0
    (row,) = store.candidates(run_id)
    assert (row["update_id"], row["status"], row["score"], row["reasoning"]) == (update.id, "done", 2.0, "try one")
    assert [e["score"] for e in store.evaluations(run_id)] == [2.0, None]
    assert store.get_run(run_id)["initial_score"] == 2.0 and store.last_step(run_id)["optimizer_state"] == {"s": 1}


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_search_without_the_start_point_equals_plain_optuna_trial_for_trial(sampler: str) -> None:
    def f(x: float, y: float) -> float:
        return (x - 3.0) ** 2 + 2 * (y + 1.5) ** 2 + 0.5 * (x - 3.0) * (y + 1.5)

    seen: list[tuple[float, float]] = []

    def objective(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", -10, 10), trial.suggest_float("y", -10, 10)
        seen.append((x, y))
        return f(x, y)

    plain = optimizers_sampler(sampler, seed=5)
    study = optuna.create_study(direction="minimize", sampler=plain)
    study.optimize(objective, n_trials=15)

    store = RunStore("sqlite://")
    result = optimize(NumericTask(), optimizer={"name": "search", "sampler": sampler}, seed=5, store=store,
                      budget=Budget(max_evaluations=15), evaluate_start=False, executor="serial")
    ours = [(c["values"]["x"], c["values"]["y"]) for c in store.candidates(result.run_id) if c["step"] > 0]
    assert ours == seen
    assert result.initial_score is None and result.best_score == pytest.approx(study.best_value)


def optimizers_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler Search builds for ``name`` (the same settings, as plain Optuna would be given)."""
    from optimizers.search import _sampler

    return _sampler(name, seed)


def test_search_state_is_a_delta_and_the_deltas_rebuild_the_study() -> None:
    x = Parameter(0.5, name="x", space=Float(0, 1))
    opt = Search([x], sampler="random", seed=1, direction="minimize")
    states = []
    for _ in range(4):
        [u] = opt.propose(k=1)
        opt.observe(u.values, Feedback(score=u.values["x"]), update=u)
        states.append(opt.state_dict())
    assert [len(s["trials"]) for s in states] == [1, 1, 1, 1]
    again = Search([Parameter(0.5, name="x", space=Float(0, 1))], sampler="random", seed=1, direction="minimize")
    again.load_state_dicts(states)
    assert [t.params for t in again.study.trials] == [t.params for t in opt.study.trials]


def test_a_job_file_can_skip_the_start_point(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agents.cli import app
    from agents.jobs import parse_job

    assert parse_job({"name": "j", "task": {"name": "numeric"}}).evaluate_start is True
    job = tmp_path / "job.toml"
    job.write_text('name = "skip"\nevaluate_start = false\nexecutor = "serial"\n[task]\nname = "numeric"\n'
                   '[optimizer]\nname = "search"\noptions = { sampler = "random" }\n[budget]\nmax_evaluations = 3\n')
    db = tmp_path / "runs.db"
    out = CliRunner().invoke(app, ["run", str(job), "--store", str(db), "--no-report"])
    assert out.exit_code == 0, out.output
    (run,) = RunStore(db).list_runs()
    assert run["initial_score"] is None and run["config"]["evaluate_start"] is False
    assert [c["status"] for c in RunStore(db).candidates(run["id"])] == ["no change", "done", "done", "done"]
