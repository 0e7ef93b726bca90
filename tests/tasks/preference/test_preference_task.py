"""The preference task adapter end to end, on a very small budget."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.base import reporting
from tasks.preference.task import PreferenceTask
from tasks.registry import build_task
from trace_core import Feedback, Node, Parameter, using
from trace_core.errors import Pruned

TINY: dict[str, Any] = {
    "max_operand": 20,
    "model": {"d_model": 32, "n_layer": 1, "n_head": 2, "d_ff": 64},
    "initial": {"steps": 4, "warmup_steps": 6, "batch_size": 8},
    "eval_every": 2,
    "revisions": 1,
}


@pytest.fixture(scope="module")
def task() -> PreferenceTask:
    return PreferenceTask(**TINY)


def test_parameters_and_spaces(task: PreferenceTask) -> None:
    params = {p.name: p for p in task.parameters()}
    assert list(params) == ["loss", "beta", "gamma_beta_ratio", "alpha", "lr", "steps", "batch_size", "warmup_steps"]
    assert params["loss"].space.options == ["dpo", "ipo", "simpo", "srpo"]
    assert params["lr"].space.log and params["alpha"].value == 0.8
    assert task.direction == "maximize" and task.train == [0]


@pytest.mark.parametrize("loss", ["dpo", "srpo"])
def test_run_and_evaluate_end_to_end(task: PreferenceTask, loss: str) -> None:
    with using({"loss": loss}):
        out = task.run(0)
    assert isinstance(out, Node)
    assert set(out.parents) >= set(task.parameters()) and all(isinstance(p, Parameter) for p in task.parameters())
    fb = task.evaluate(0, out)
    assert isinstance(fb, Feedback) and not fb.failed
    assert fb.score == fb.metrics["exact_match"] and 0.0 <= fb.score <= 1.0
    for key in ("preference_accuracy", "reward_margin", "win_rate", "test_exact_match", "final_loss"):
        assert key in fb.metrics
    assert f"loss={loss}" in fb.text and "preference loss: " in fb.text and "reward margin" in fb.text
    assert "validation during training:" in fb.text and "self-revisions" in fb.text
    assert fb.details["losses"][-1][0] == 4


def test_score_can_be_preference_accuracy() -> None:
    task = PreferenceTask(**TINY, score="preference_accuracy")
    fb = task.evaluate(0, task.run(0))
    assert fb.score == fb.metrics["preference_accuracy"]


def test_a_diverging_configuration_is_a_scored_failure() -> None:
    task = PreferenceTask(**{**TINY, "eval_every": 0}, max_lr=1e9)
    with using({"lr": 1e8, "steps": 20}):
        fb = task.evaluate(0, task.run(0))
    assert fb.failed and fb.score is None
    assert fb.details["reason"] == "diverged"
    assert "diverged" in fb.text and "lower the learning rate" in fb.text


def test_an_invalid_value_is_a_scored_failure(task: PreferenceTask) -> None:
    with using({"loss": "kto"}):
        fb = task.evaluate(0, task.run(0))
    assert fb.failed and "loss='kto' is invalid" in fb.text


def test_a_reporter_can_prune(task: PreferenceTask) -> None:
    class Stop:
        def report(self, step: int, value: float) -> None:
            raise Pruned(step=step, value=value)

    with reporting(Stop()), pytest.raises(Pruned) as info:
        task.run(0)
    assert info.value.step == 2


def test_spec_rebuilds_through_the_registry(task: PreferenceTask) -> None:
    spec = task.spec()
    again = build_task(spec["name"], **spec["options"])
    assert isinstance(again, PreferenceTask) and again.splits == task.splits
