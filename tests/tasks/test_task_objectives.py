"""Every task's second objective: opt-in with ``multi_objective=True``, measured always."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tasks.base import describe_options
from tasks.registry import build_task
from tasks.preference.model import ModelConfig, TinyLM, token_kl
from tests.tasks.test_task_contract import TINY
from trace_core import Feedback, Objectives, using
from trace_core.errors import ConfigError

#: task -> the objectives ``multi_objective=True`` declares
EXPECTED = {
    "nas": {"val_acc": "maximize", "n_params": "minimize"},
    "design3d": {"drag": "minimize", "cabin_volume": "maximize"},
    "hpo": {"val_acc": "maximize", "seconds": "minimize"},
    "preference": {"exact_match": "maximize", "kl_to_reference": "minimize"},
    "prompt_qa": {"exact_match": "maximize", "prompt_tokens": "minimize"},
}


def _feedback(task: Any, values: dict[str, Any] | None = None, example: Any = None) -> Feedback:
    example = task.val[0] if example is None else example
    with using(values or {}):
        return task.evaluate(example, task.run(example))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_option_declares_the_objectives_and_feedback_measures_them(name: str) -> None:
    task = build_task(name, **TINY[name], multi_objective=True)
    assert task.objectives == EXPECTED[name]
    assert task.direction == next(iter(EXPECTED[name].values()))  # the first objective is the score
    fb = _feedback(task)
    assert not fb.failed, fb.text
    values = Objectives.of(task.objectives, task.constraints).values(fb.metrics)
    assert values is not None, (sorted(fb.metrics), EXPECTED[name])
    assert values[0] == fb.score
    assert task.spec()["options"]["multi_objective"] is True  # a resumed run rebuilds it multi-objective


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_by_default_the_task_has_one_objective_but_the_metric_is_there(name: str) -> None:
    task = build_task(name, **TINY[name])
    assert task.objectives is None and "multi_objective" not in task.options
    fb = _feedback(task)
    assert set(EXPECTED[name]) <= set(fb.metrics), sorted(fb.metrics)
    option = next(o for o in describe_options(type(task).Options) if o["name"] == "multi_objective")
    assert option["default"] is False and all(metric in option["help"] for metric in EXPECTED[name])


def test_design3d_constraints_are_its_class_limits_and_an_out_of_class_design_keeps_its_metrics() -> None:
    task = build_task("design3d", multi_objective=True, vehicle_class="car")
    obj = Objectives.of(task.objectives, task.constraints)
    assert "cabin_volume >= 2.5" in [str(c) for c in obj.constraints] and len(obj.constraints) == 7
    fb = _feedback(task, {"prompt": "tiny short low compact"})
    assert fb.failed and not obj.feasible(fb.metrics) and obj.values(fb.metrics) is not None
    ok = _feedback(task, {"prompt": "a family car"})
    assert obj.feasible(ok.metrics)


def test_a_task_without_natural_objectives_refuses_the_option() -> None:
    with pytest.raises(ConfigError, match="multi_objective"):
        build_task("numeric", multi_objective=True)


def test_prompt_tokens_grow_with_the_prompt() -> None:
    task = build_task("prompt_qa")
    assert task.prompt_tokens("Answer.") < task.prompt_tokens("Answer. " * 40)


def test_kl_to_reference_is_zero_for_the_reference_and_grows_as_the_policy_moves() -> None:
    cfg = ModelConfig(d_model=16, n_layer=1, n_head=2, d_ff=32)
    ref = TinyLM(cfg, seed=0)
    ids, mask = torch.tensor([[1, 5, 6, 7], [1, 8, 9, 0]]), torch.tensor([[0, 1, 1, 1], [0, 0, 1, 0]])
    same, n = token_kl(ref, ref, ids, mask)
    assert same.tolist() == [0.0, 0.0] and n.tolist() == [3.0, 1.0]
    moved = TinyLM(cfg, seed=0)
    with torch.no_grad():
        for p in moved.parameters():
            p.add_(0.05 * torch.randn_like(p))
    near = token_kl(moved, ref, ids, mask)[0]
    with torch.no_grad():
        for p in moved.parameters():
            p.add_(0.5 * torch.randn_like(p))
    far = token_kl(moved, ref, ids, mask)[0]
    assert (near > 0).all() and (far > near).all()
