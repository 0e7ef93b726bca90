"""Tasks by name, imported only when used (name -> "module:Class"); third-party packages
add theirs through the ``tracetune.tasks`` entry point group (see :mod:`trace_core.registry`).

Example:
    >>> "numeric" in task_names()
    True
"""

from __future__ import annotations

from typing import Any

from trace_core.errors import ConfigError
from trace_core.registry import Registry, load_target

__all__ = ["TASKS", "register", "build_task", "task_names", "is_registered", "load_target", "task_class",
           "task_target"]

#: the registered tasks; a package adds its own with ``[project.entry-points."tracetune.tasks"]``
TASKS = Registry("task", "tracetune.tasks", {
    "numeric": "tasks.examples.numeric:NumericTask",
    "prompt_qa": "tasks.examples.prompt_qa:PromptQATask",
    "code_repair": "tasks.examples.code_repair:CodeRepairTask",
    "hpo": "tasks.hpo.task:HPOTask",
    "nas": "tasks.nas.task:NASTask",
    "preference": "tasks.preference.task:PreferenceTask",
    "design3d": "tasks.design3d.task:Design3DTask",
})
_REGISTRY = TASKS.targets  # the live map, by its older name


def register(name: str, target: str) -> None:
    """Register ``name`` -> ``"module:Class"`` (a Task class or factory)."""
    TASKS.register(name, target)


def task_names() -> list[str]:
    return TASKS.names()


def is_registered(name: str) -> bool:
    return name in TASKS


def task_target(name: str) -> str:
    """The ``"module:Class"`` registered as ``name``."""
    return TASKS.target(name)


def task_class(name: str) -> Any:
    return TASKS.load(name)


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
