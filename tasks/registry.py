"""Tasks by name, imported only when used (name -> "module:Class").

Example:
    >>> "numeric" in task_names()
    True
"""

from __future__ import annotations

import importlib
from typing import Any

from trace_core.errors import ConfigError

__all__ = ["register", "build_task", "task_names", "is_registered", "load_target", "task_class", "task_target"]

_REGISTRY: dict[str, str] = {
    "numeric": "tasks.examples.numeric:NumericTask",
    "prompt_qa": "tasks.examples.prompt_qa:PromptQATask",
    "code_repair": "tasks.examples.code_repair:CodeRepairTask",
    "hpo": "tasks.hpo.task:HPOTask",
    "nas": "tasks.nas.task:NASTask",
    "preference": "tasks.preference.task:PreferenceTask",
    "design3d": "tasks.design3d.task:Design3DTask",
}


def register(name: str, target: str) -> None:
    """Register ``name`` -> ``"module:Class"`` (a Task class or factory)."""
    if ":" not in target:
        raise ConfigError(f"task target {target!r} must look like 'package.module:ClassName'")
    _REGISTRY[name] = target


def task_names() -> list[str]:
    return sorted(_REGISTRY)


def is_registered(name: str) -> bool:
    return name in _REGISTRY


def task_target(name: str) -> str:
    """The ``"module:Class"`` registered as ``name``."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown task {name!r}; registered tasks: {', '.join(task_names())}")
    return _REGISTRY[name]


def load_target(target: str) -> Any:
    """Import ``"module:attr"`` (attr may be dotted)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{target!r} is not of the form 'module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"cannot import {module_name!r} for {target!r}: {e}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{module_name!r} has no attribute {attr!r}") from None
    return obj


def task_class(name: str) -> Any:
    return load_target(task_target(name))


def build_task(name: str, **options: Any) -> Any:
    """Instantiate the task registered as ``name`` with ``options``, checked against its
    ``Options`` model first (see :func:`tasks.base.check_options`)."""
    from tasks.base import check_options

    cls = task_class(name)
    options = check_options(cls, options)
    try:
        return cls(**options)
    except TypeError as e:
        raise ConfigError(f"task {name!r} rejected its options {sorted(options)}: {e}") from None
