"""Tasks by name, imported only when used (name -> "module:Class"); third-party packages
add theirs through the ``tracetune.tasks`` entry point group (see :mod:`trace_core.registry`).

:func:`task_summary` reads what a task is about from its source, without importing it,
so listing the tasks does not load torch or scikit-learn.

Example:
    >>> "numeric" in task_names()
    True
    >>> task_summary("hpo")["direction"]
    'maximize'
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from typing import Any

from trace_core.errors import ConfigError
from trace_core.registry import Registry, load_target

__all__ = ["TASKS", "register", "build_task", "task_names", "is_registered", "load_target", "task_class",
           "task_target", "task_summary"]

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


def task_summary(name: str) -> dict[str, str]:
    """``name``, ``direction`` and ``description`` of the task registered as ``name``.

    They are read from the class's source when its body says them as plain strings
    (``direction = "..."``, ``description = "..."``; the docstring's first paragraph stands
    in for a description set at run time), so the task's module is not imported.
    Otherwise (a direction inherited or computed) the class is imported and its
    attributes read; a factory is called with its defaults.
    """
    module_name, _, attr = task_target(name).partition(":")
    said = _read_class(module_name, attr)
    if said.get("direction") is None:
        target = task_class(name)
        if not isinstance(target, type):
            target = build_task(name)
        said = {"direction": getattr(target, "direction", None) or "maximize",
                "description": getattr(target, "description", None) or _first_paragraph(target.__doc__)}
    return {"name": name, "direction": said["direction"], "description": said["description"]}


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _read_class(module_name: str, class_name: str) -> dict[str, Any]:
    """``direction`` and ``description`` given as plain strings in the body of a top-level
    class (``{}`` when the module's source cannot be read or has no such class)."""
    try:
        spec = importlib.util.find_spec(module_name)
        with open(spec.origin, encoding="utf-8") as f:  # type: ignore[union-attr,arg-type]
            tree = ast.parse(f.read())
    except Exception:  # noqa: BLE001 - no source to read (a compiled module, a missing one): import it instead
        return {}
    for item in tree.body:
        if not (isinstance(item, ast.ClassDef) and item.name == class_name):
            continue
        said: dict[str, Any] = {"direction": None, "description": _first_paragraph(ast.get_docstring(item))}
        for stmt in item.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign):
                target, value = stmt.target, stmt.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id in said and isinstance(value, ast.Constant) \
                    and isinstance(value.value, str):
                said[target.id] = value.value
        return said
    return {}
