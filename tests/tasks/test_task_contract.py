"""The task contract, run on every registered task (at a tiny size)."""

from __future__ import annotations

from typing import Any

import pytest

from agents.evaluate import evaluate_values
from tasks.base import Task
from tasks.registry import build_task, task_names
from trace_core import Feedback, Node, Parameter, backward, catching
from trace_core.backward import topological

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


@pytest.fixture(params=sorted(TINY))
def task(request: Any) -> Any:
    return build_task(request.param, **TINY[request.param])


def test_protocol_and_parameters(task: Any) -> None:
    assert isinstance(task, Task)
    assert task.direction in ("maximize", "minimize")
    assert task.name and isinstance(task.description, str) and task.description
    params = task.parameters()
    assert params and all(isinstance(p, Parameter) for p in params)
    names = [p.name for p in params]
    assert len(set(names)) == len(names)
    for p in params:
        assert p.space.validate(p.value) == p.value or p.space.kind == "json"
    assert len(task.train) > 0 and len(task.val) > 0


def test_run_is_traced_to_the_parameters(task: Any) -> None:
    example = task.train[0]
    with catching():
        out = task.run(example)
    assert isinstance(out, Node)
    fb = task.evaluate(example, out)
    assert isinstance(fb, Feedback)
    reached = backward(out, fb)
    assert set(reached) & set(task.parameters()), "no parameter is an ancestor of the output"
    assert any(n.trainable for n in topological([out]))


def test_evaluation_under_own_values_and_failures_are_feedback(task: Any) -> None:
    values = {p.name: p.value for p in task.parameters()}
    result = evaluate_values(task, values, list(task.val)[:2])
    assert result.status == "done"
    assert result.feedback.score is not None or result.feedback.failed
    # a broken value is a scored failure, not an exception
    broken = {name: object() for name in values}
    bad = evaluate_values(task, broken, list(task.val)[:1])
    assert bad.feedback.failed or bad.feedback.score is not None


def test_spec_rebuilds_the_task(task: Any) -> None:
    spec = task.spec()
    again = build_task(spec["name"], **spec["options"])
    assert [p.name for p in again.parameters()] == [p.name for p in task.parameters()]
