"""A run's lifecycle: one RunConfig and build_run behind optimize, open_run and resume;
drive() stores how a run an exception ended, for the CLI, Python and the chat alike."""

from __future__ import annotations

from typing import Any

import pytest

from agents import RunStore, optimize
from agents import loop
from agents.loop import RunConfig, build_run, drive, open_run
from optimizers import Search
from tasks.examples.numeric import NumericTask
from trace_core import Budget
from trace_core.errors import ConfigError


def test_build_run_builds_the_named_optimizer_and_writes_nothing() -> None:
    store = RunStore("sqlite://")
    config = RunConfig(NumericTask(), optimizer="search:random", budget=Budget(max_steps=2), seed=3,
                       initial_values={"x": 1.0})
    run = build_run(config, store)
    try:
        assert isinstance(run.opt, Search) and run.opt.sampler_name == "random"
        assert run.opt.direction == "minimize" and run.opt.values()["x"] == 1.0
        assert store.list_runs() == []
    finally:
        run.close()


def test_the_stored_config_rebuilds_the_same_config() -> None:
    config = RunConfig(NumericTask(), optimizer={"name": "search", "sampler": "tpe"}, budget=Budget(max_steps=4),
                       k=2, executor="serial", seed=7, minibatch=None, timeout=9.0, target=0.5,
                       evaluate_start=False)
    again = RunConfig.from_stored("r1", config.stored())
    assert again.stored() == config.stored()
    override = RunConfig.from_stored("r1", config.stored(), budget=Budget(max_steps=9), executor="thread")
    assert override.budget.max_steps == 9 and override.executor == "thread"


def test_a_workflow_run_cannot_be_rebuilt_without_its_task() -> None:
    with pytest.raises(ConfigError, match="WorkflowTask"):
        RunConfig.from_stored("r1", {"task": None})


def test_k_below_one_is_refused_before_a_store_is_opened(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="k must be at least 1"):
        optimize(NumericTask(), optimizer="search", k=0, store=tmp_path / "runs.db")
    assert not (tmp_path / "runs.db").exists()


def test_optimize_and_open_run_share_build_run(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[RunConfig] = []
    real = loop.build_run

    def spy(config: RunConfig, *args: Any, **kwargs: Any) -> Any:
        built.append(config)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(loop, "build_run", spy)
    store = RunStore("sqlite://")
    result = optimize(NumericTask(), optimizer="search:random", budget=Budget(max_steps=2), store=store,
                      executor="serial")
    run = open_run(result.run_id, store=store)
    try:
        assert [c.stored()["optimizer"] for c in built] == [{"name": "search", "sampler": "random"}] * 2
        assert type(run.opt) is Search and run.step == 2
        assert run.opt.values()["x"] == pytest.approx(store.last_step(result.run_id)["values"]["x"])
    finally:
        run.close()


def _reopened(should_stop: Any) -> tuple[RunStore, Any]:
    """A stored one-step run, reopened with five steps to go and ``should_stop`` as its stop check."""
    store = RunStore("sqlite://")
    result = optimize(NumericTask(), optimizer="search:random", budget=Budget(max_steps=1), store=store,
                      executor="serial")
    run = open_run(result.run_id, store=store, budget=Budget(max_steps=5))
    run.should_stop = should_stop
    return store, run


def _raise(error: BaseException) -> Any:
    def check() -> bool:
        raise error
    return check


def test_drive_stores_the_failure_with_its_label() -> None:
    store, run = _reopened(_raise(RuntimeError("the stop check broke")))
    try:
        with pytest.raises(RuntimeError):
            drive(run, label="chat: ")
    finally:
        run.close()
    row = store.get_run(run.run_id)
    assert row["status"] == "failed"
    assert row["stop_reason"] == "chat: RuntimeError: the stop check broke"


def test_drive_stores_an_interrupt_as_interrupted() -> None:
    store, run = _reopened(_raise(KeyboardInterrupt()))
    try:
        with pytest.raises(KeyboardInterrupt):
            drive(run)
    finally:
        run.close()
    assert store.get_run(run.run_id)["status"] == "interrupted"
