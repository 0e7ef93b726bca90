"""The hpo task adapter: run/evaluate under value mappings, failures, pruning."""

from __future__ import annotations

import numpy as np
import pytest

from trace_core import Parameter, catching, using
from trace_core.errors import ConfigError, Pruned
from tasks.base import reporting
from tasks.hpo import HPOTask, default_config, search_space

TINY = {"epochs": 3, "width": 16, "depth": 1, "batch_size": 32, "lr": 1e-2}


@pytest.fixture(scope="module")
def task() -> HPOTask:
    return HPOTask("digits", max_train=300)


def test_parameters_cover_the_space_and_start_at_the_defaults(task):
    params = task.parameters()
    assert all(isinstance(p, Parameter) for p in params)
    assert {p.name: p.value for p in params} == default_config()
    assert set(search_space()) == set(default_config())
    assert task.spec() == {"name": "hpo", "options": task.options}
    assert task.train == [0] and task.val == [0]


def test_run_traces_the_parameters_and_feedback_has_the_learning_curve(task):
    with using(TINY):
        out = task.run(0)
        fb = task.evaluate(0, out)
    assert {p.name for p in out.parents} >= set(default_config())
    assert 0.5 < fb.score <= 1.0  # learns digits well above chance even in 3 tiny epochs
    assert fb.metrics["epochs_run"] == 3 and fb.metrics["val_acc"] == fb.score
    assert "learning curve (3 epochs" in fb.text and "train_loss / val_loss / val_acc" in fb.text
    assert len(fb.details["curve"]["val_loss"]) == 3


def test_value_sets_are_evaluated_without_touching_live_parameters(task):
    with using({**TINY, "lr": 1e-4, "optimizer": "sgd"}):
        slow = task.evaluate(0, task.run(0))
    with using({**TINY, "lr": 3e-2}):
        fast = task.evaluate(0, task.run(0))
    with using({**TINY, "lr": 3e-2}):
        again = task.evaluate(0, task.run(0))
    assert fast.score > slow.score
    assert fast.score == again.score  # fixed seeds
    assert {p.name: p.value for p in task.parameters()} == default_config()


def test_invalid_value_is_a_scored_failure_naming_the_parameter(task):
    with using({"lr": 5.0}):
        fb = task.evaluate(0, task.run(0))
    assert fb.failed and fb.score is None
    assert "lr=5.0" in fb.text and "between 0.0001 and 0.3" in fb.text


class _StopBelow:
    def __init__(self, threshold: float) -> None:
        self.threshold, self.calls = threshold, 0

    def report(self, step: int, value: float) -> None:
        self.calls += 1
        if value < self.threshold:
            raise Pruned(f"accuracy {value:.2f} at epoch {step}", step=step, value=value)


DIVERGING = {"epochs": 20, "width": 64, "depth": 3, "batch_size": 16, "lr": 0.3, "optimizer": "sgd"}


def test_a_diverging_trial_stops_by_itself_as_a_scored_failure(task):
    with using(DIVERGING):
        fb = task.evaluate(0, task.run(0))
    assert fb.failed and fb.score is None and fb.details["reason"] == "diverged"
    assert fb.metrics["epochs_run"] == fb.metrics["diverged_at"] < 20
    assert "training diverged" in fb.text and "lower the learning rate" in fb.text
    assert "learning curve" in fb.text


@pytest.mark.parametrize("values", [{**TINY, "lr": 1e-4, "optimizer": "sgd"}, {**DIVERGING, "optimizer": "adam"}],
                         ids=["hopeless", "diverging"])
def test_pruning_stops_a_bad_trial_even_inside_catching(task, values):
    reporter = _StopBelow(0.5)
    before = task.epochs_trained
    with reporting(reporter), using({**values, "epochs": 20}):
        with pytest.raises(Pruned) as err:
            task.run(0)
        with catching(), pytest.raises(Pruned):
            task.run(0)
    assert err.value.step == 1 and task.epochs_trained - before == 2
    with reporting(_StopBelow(0.5)), using(TINY | {"lr": 3e-2}):
        assert task.evaluate(0, task.run(0)).metrics["epochs_run"] == 3  # a good trial is not pruned


def test_user_data_and_configuration_errors():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    y = np.where(X[:, 0] + X[:, 1] > 0, "pos", "neg")
    task = HPOTask(X=X, y=y, initial={"epochs": 4, "width": 16, "lr": 3e-2})
    fb = task.evaluate(0, task.run(0))
    assert task.data.n_classes == 2 and fb.score > 0.7
    with pytest.raises(ConfigError, match="unknown hyperparameters"):
        HPOTask(initial={"momentum": 0.9})
    with pytest.raises(ConfigError, match="X and y"):
        HPOTask(X=X)
    with pytest.raises(ConfigError, match="out of range"):
        HPOTask(initial={"depth": 9})


def test_unusable_user_data_is_refused_when_the_task_is_made():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), np.array(["a", "b", "c"] * 10)
    X[4, 1] = np.nan
    with pytest.raises(ConfigError, match="NaN or infinite values in 1 row.*row 4"):
        HPOTask(X=X, y=y)
    with pytest.raises(ConfigError, match="at least 2 rows.*these have 1: solo"):
        HPOTask(X=np.nan_to_num(X), y=np.array(["a", "b"] * 14 + ["b", "solo"]))
    with pytest.raises(ConfigError, match="numbers only"):
        HPOTask(X=[["red", "big"]] * 30, y=y)
