"""Objectives, constraints and a reference point set on a task in a job file.

A job's ``[task]`` may make any task multi-objective, or change a multi-objective task's
objectives, without code::

    [task]
    name = "nas"
    objectives = { val_acc = "maximize", n_params = "minimize" }
    constraints = ["latency_ms <= 20"]
    reference_point = [0.0, 1e6]        # or { val_acc = 0.0, n_params = 1e6 }

They replace what the task's class declares; the task's ``direction`` becomes the first
objective's sense. :func:`objective_problems` checks them against each other (and
against the task's own objectives when only constraints or a reference point are given);
:func:`apply_objectives` sets them on the built task.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from trace_core.objectives import Objectives

__all__ = ["KEYS", "objective_problems", "apply_objectives", "objective_overrides"]

KEYS = ("objectives", "constraints", "reference_point")


def _declared(task: Any) -> Mapping[str, str] | None:
    """The objectives the job gives, else those the registered task declares: its class,
    or, when the class declares none and options are given (``multi_objective = true``),
    the task built with them."""
    if task.objectives is not None or task.name is None:
        return task.objectives
    from tasks.registry import build_task, is_registered, task_class

    try:
        if not is_registered(task.name):
            return None
        declared = getattr(task_class(task.name), "objectives", None)
        if declared is None and task.options:
            declared = getattr(build_task(task.name, **task.options), "objectives", None)
        return declared
    except Exception:  # noqa: BLE001 - an import error or bad options, reported by the task's own check
        return None


def objective_problems(task: Any) -> list[str]:
    """Problems with a job's ``task.objectives``, ``task.constraints`` and ``task.reference_point``."""
    if task.objectives is None and not task.constraints and task.reference_point is None:
        return []
    declared = _declared(task)
    if not declared:
        given = [k for k in KEYS[1:] if getattr(task, k)]
        return [f"task.{k}: the task has no objectives; add task.objectives = {{ metric = \"maximize\" }} "
                "(one objective is enough for a constrained run)" for k in given]
    try:
        objectives = Objectives.of(dict(declared), task.constraints)
    except ValueError as e:
        return [f"task.constraints: {e}"]
    ref = task.reference_point
    if ref is None:
        return []
    names = objectives.names
    if isinstance(ref, Mapping):
        missing, unknown = [n for n in names if n not in ref], [k for k in ref if k not in names]
        if missing or unknown:
            return [f"task.reference_point: give one value for each objective ({', '.join(names)})"
                    + (f"; missing {', '.join(missing)}" if missing else "")
                    + (f"; not an objective: {', '.join(map(str, unknown))}" if unknown else "")]
        ref = [ref[n] for n in names]
    if len(ref) != len(names):
        return [f"task.reference_point = {list(ref)}: give {len(names)} numbers, one per objective "
                f"({', '.join(names)}), in that order"]
    if not all(math.isfinite(float(v)) for v in ref):
        return [f"task.reference_point = {list(ref)}: every value must be a finite number"]
    return []


def apply_objectives(task: Any, spec: Mapping[str, Any]) -> Any:
    """Set the objectives, constraints and reference point a task spec gives on ``task``."""
    given = {k: spec[k] for k in KEYS if spec.get(k) is not None}
    if not given:
        return task
    if "objectives" in given:
        given["objectives"] = dict(given["objectives"])
        task.direction = next(iter(given["objectives"].values()))
    for key, value in given.items():
        setattr(task, key, value)
    return task


def objective_overrides(task: Any) -> dict[str, Any]:
    """What :func:`apply_objectives` set on ``task`` (kept in a stored task spec)."""
    own = getattr(task, "__dict__", {})
    return {k: own[k] for k in KEYS if own.get(k) is not None and own.get(k) != ()}
