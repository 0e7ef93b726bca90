"""Optimizers by name, imported only when used (name -> ``"module:attr"``); third-party
packages add theirs through the ``tracetune.optimizers`` entry point group (see
:mod:`trace_core.registry`). :func:`create` builds one from a name and options.

Example:
    >>> from trace_core import Parameter
    >>> from trace_core.spaces import Float
    >>> "search" in optimizer_names()
    True
    >>> type(create("search", [Parameter(0.5, name="x", space=Float(0, 1))], {"sampler": "random"})).__name__
    'Search'
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from trace_core import Parameter
from trace_core.errors import ConfigError
from trace_core.registry import Registry

__all__ = ["OPTIMIZERS", "register", "optimizer_names", "is_registered", "optimizer_class", "create"]

#: the registered optimizers; a package adds its own with ``[project.entry-points."tracetune.optimizers"]``
OPTIMIZERS = Registry("optimizer", "tracetune.optimizers", {
    "default": "optimizers._default:default",
    "search": "optimizers.search:Search",
    "optoprime": "optimizers.optoprime:OptoPrime",
    "opro": "optimizers.opro:OPRO",
    "evolution": "optimizers.evolution:Evolution",
})


def register(name: str, target: str) -> None:
    """Register ``name`` -> ``"module:Class"``: an Optimizer subclass, or a function that
    returns one, called as ``target(parameters, **options)``."""
    OPTIMIZERS.register(name, target)


def optimizer_names() -> list[str]:
    return OPTIMIZERS.names()


def is_registered(name: str) -> bool:
    return name in OPTIMIZERS


def optimizer_class(name: str) -> Any:
    """The class (or factory function) registered as ``name``, imported now."""
    return OPTIMIZERS.load(name)


def create(name: str, parameters: Sequence[Parameter], options: Mapping[str, Any] | None = None, *,
           llm: Any = None, seed: int | None = None, vocabulary: Sequence[str] | None = None,
           objective: str | None = None, templates: Mapping[str, str] | None = None,
           objectives: Mapping[str, Any] | None = None) -> Any:
    """The optimizer registered as ``name`` over ``parameters`` with ``options``. Of
    ``llm``, ``seed``, ``vocabulary``, ``objective``, ``templates`` and the items of
    ``objectives`` (a multi-objective task's ``objectives`` and ``constraints``: what a run
    knows), it gets those its signature names and ``options`` does not set."""
    options = dict(options or {})
    target = optimizer_class(name)
    if getattr(target, "needs_llm", False) and llm is None:
        raise ConfigError(f"the {name} optimizer needs an LLM: set TRACETUNE_LLM (e.g. openai/gpt-4o-mini) "
                          "or pass llm=, or use optimizer='search'")
    given = {"llm": llm, "seed": seed, "vocabulary": vocabulary, "objective": objective,
             "templates": dict(templates) if templates else None, **(objectives or {})}
    named, takes_any = _signature(target)
    extra = {k: v for k, v in given.items() if v is not None and k in named and k not in options}
    unknown = sorted(set(options) - named)
    if unknown and not takes_any:
        raise ConfigError(f"the {name} optimizer does not take {', '.join(unknown)}; it takes "
                          f"{', '.join(sorted(named - {'parameters'})) or 'no options'}")
    return OPTIMIZERS.build(name, list(parameters), **extra, **options)


def _signature(target: Any) -> tuple[set[str], bool]:
    """The keyword arguments ``target`` names, and whether it takes any other (``**options``)."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return set(), True
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = signature.parameters.values()
    return ({p.name for p in params if p.kind in kinds},
            any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params))
