"""Build tasks, LLMs and optimizers from plain specs (job files, stored runs)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from trace_core import Budget, Parameter
from trace_core.errors import ConfigError
from trace_core.feedback import Direction

__all__ = ["build_llm", "build_optimizer", "optimizer_spec", "task_spec", "build_task_from_spec"]

log = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    if name == "OPTIMIZERS":  # its older home: the registered names are in optimizers.registry
        from optimizers.registry import optimizer_names

        return tuple(optimizer_names())
    raise AttributeError(f"module 'agents.factory' has no attribute {name!r}")


def build_llm(spec: Any, budget: Budget | None = None) -> Any:
    """An LLM from an object, a model string, a dict ``{model, api_base, ...}`` or the
    environment (``None``); wrapped with the run's budget. None when nothing is set."""
    from trace_core.llm import resolve_llm, wrap

    llm = resolve_llm(spec)
    if llm is None:
        return None
    return wrap(llm, budget=budget) if budget is not None else llm


def optimizer_spec(optimizer: Any) -> dict[str, Any]:
    """A storable description of ``optimizer`` (a name, a dict, or an instance)."""
    if optimizer is None:
        return {"name": "default"}
    if isinstance(optimizer, str):
        name, _, sampler = optimizer.partition(":")
        return {"name": name, **({"sampler": sampler} if sampler else {})}
    if isinstance(optimizer, Mapping):
        return dict(optimizer)
    return {"name": type(optimizer).__name__.lower(), "instance": True}


def build_optimizer(
    spec: Mapping[str, Any],
    parameters: Sequence[Parameter],
    *,
    llm: Any = None,
    direction: Direction = "maximize",
    seed: int = 0,
    vocabulary: Sequence[str] | None = None,
    objective: str | None = None,
    templates: Mapping[str, str] | None = None,
    objectives: Mapping[str, Any] | None = None,
) -> Any:
    """An optimizer from a spec such as ``{"name": "search", "sampler": "tpe"}``: the
    optimizer registered under that name (:mod:`optimizers.registry`) with the spec's options.

    ``objectives`` (``{"objectives": {...}, "constraints": [...]}`` of a multi-objective
    task) go to every optimizer whose signature names them (Search, Evolution, OptoPrime,
    OPRO, ``default``), unless the spec sets them."""
    from optimizers.registry import create, is_registered

    options = {k: v for k, v in spec.items() if k not in ("name", "instance")}
    name = str(spec.get("name", "default"))
    name = name if is_registered(name) else name.lower()  # an entry point's own spelling, else lowercase
    if spec.get("instance"):
        raise ConfigError(
            f"this run used a custom {name} optimizer object; pass optimizer= again to resume it"
        )
    opt = create(name, parameters, options, llm=llm, seed=seed, vocabulary=vocabulary, objective=objective,
                 templates=templates, objectives=objectives)
    opt.direction = direction
    return opt


def task_spec(task: Any) -> dict[str, Any] | None:
    """How to rebuild ``task`` later (registered name and options), if it can be."""
    spec = getattr(task, "spec", None)
    if callable(spec):
        from tasks.registry import is_registered

        s = spec()
        if is_registered(s.get("name", "")):
            from agents._job_objectives import objective_overrides

            out = {"name": s["name"], "options": s.get("options", {}), **objective_overrides(task)}
            data = {k: s[k] for k in ("train", "val") if k in s}
            if data:  # examples given to optimize(): kept only if they survive JSON (else resume needs task=)
                try:
                    if json.loads(json.dumps(data)) != data:
                        return None
                except (TypeError, ValueError):
                    return None
                out.update(data)
            return out
    return None


def build_task_from_spec(spec: Mapping[str, Any]) -> Any:
    """A task from ``{"name": registered, "options": {...}}`` or
    ``{"workflow": "module:fn", "feedback": "module:fn", "train": [...], ...}``."""
    from agents._job_objectives import apply_objectives
    from tasks.registry import build_task, load_target

    if "name" in spec:
        task = build_task(spec["name"], **spec.get("options", {}))
        if spec.get("train") is not None or spec.get("val") is not None:
            from agents.workflow import WithData

            task = WithData(task, spec.get("train"), spec.get("val"))
        return apply_objectives(task, spec)
    if "workflow" in spec:
        from agents.workflow import WorkflowTask

        workflow = load_target(spec["workflow"])
        if isinstance(workflow, type):
            workflow = workflow()
        feedback = load_target(spec["feedback"])
        return apply_objectives(WorkflowTask(workflow, feedback, train=spec.get("train"), val=spec.get("val"),
                                             direction=spec.get("direction", "maximize"), name=spec.get("label")),
                                spec)
    raise ConfigError(f"a task spec needs 'name' (a registered task) or 'workflow' and 'feedback'; got {dict(spec)}")
