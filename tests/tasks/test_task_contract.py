"""The task contract (:mod:`tasks.testing`) on every registered task, at a tiny size,
and the loop's evaluation of each."""

from __future__ import annotations

from typing import Any

import pytest

from agents.evaluate import evaluate_values
from tasks.registry import build_task, task_names
from tasks.testing import TaskContract

#: options that make each registered task cheap enough for a contract check
TINY: dict[str, dict[str, Any]] = {
    "numeric": {},
    "prompt_qa": {},
    "code_repair": {},
    "design3d": {},
    "hpo": {"max_train": 200, "initial": {"epochs": 2, "width": 16}},
    "nas": {"max_train": 200, "epochs": 2},
    "preference": {"max_operand": 20, "model": {"d_model": 32, "n_layer": 1, "n_head": 2, "d_ff": 64},
                   "initial": {"steps": 4, "warmup_steps": 6, "batch_size": 8}, "eval_every": 2, "revisions": 1},
}


def test_every_registered_task_has_tiny_options() -> None:
    missing = [n for n in task_names() if n not in TINY]
    assert not missing, f"add contract options for {missing}"


class TestRegisteredTasks(TaskContract):
    @pytest.fixture(autouse=True, params=sorted(TINY))
    def _name(self, request: pytest.FixtureRequest) -> None:
        self.name = request.param

    def make_task(self) -> Any:
        return build_task(self.name, **TINY[self.name])


@pytest.mark.parametrize("name", sorted(TINY))
def test_the_loops_evaluation_scores_own_and_broken_values(name: str) -> None:
    task = build_task(name, **TINY[name])
    values = {p.name: p.value for p in task.parameters()}
    result = evaluate_values(task, values, list(task.val)[:2])
    assert result.status == "done"
    assert result.feedback.score is not None or result.feedback.failed
    broken = {n: object() for n in values}  # a broken value is a scored failure, not an exception
    bad = evaluate_values(task, broken, list(task.val)[:1])
    assert bad.feedback.failed or bad.feedback.score is not None


class _Untraced(TaskContract):
    """A task that breaks the contract: its run returns a plain number."""

    def make_task(self) -> Any:
        from tasks.examples.numeric import NumericTask

        class Untraced(NumericTask):
            def run(self, example: Any) -> Any:
                return 1.0

        return Untraced()


class _Systemic(TaskContract):
    """A task that breaks the contract: broken values raise TaskError."""

    def make_task(self) -> Any:
        from tasks.examples.numeric import NumericTask
        from trace_core.errors import TaskError

        class Systemic(NumericTask):
            def run(self, example: Any) -> Any:
                if not isinstance(self.x.value, float):
                    raise TaskError("x is not a number")
                return super().run(example)

        return Systemic()


def test_the_contract_catches_tasks_that_break_it() -> None:
    with pytest.raises(AssertionError, match="run must return a traced Node, not float"):
        _Untraced().test_run_is_traced_to_the_parameters()
    with pytest.raises(AssertionError, match="broken values raised TaskError"):
        _Systemic().test_broken_values_are_a_failed_example_not_a_systemic_failure()
    _Systemic().test_evaluation_under_given_values_leaves_the_live_ones()
