"""``default(parameters, llm=None)``: the optimizer to use when none is named.

With an LLM (given, or configured through ``$TRACETUNE_LLM``): OptoPrime. Without one:
Search for the numbers, choices and Json models, Evolution for the Text parameters
(both together in a :class:`~optimizers.composite.Composite` when there are both).
Code parameters need an LLM; without one they are kept (and said so).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from optimizers import _flatten
from optimizers.base import Optimizer
from optimizers.composite import Composite
from optimizers.evolution import Evolution
from optimizers.search import Search
from trace_core import Parameter
from trace_core.errors import ConfigError
from trace_core.feedback import Direction

__all__ = ["default"]

log = logging.getLogger(__name__)
_SEARCH_ONLY = ("sampler", "pruner", "storage", "study_name", "enqueue_initial")


def _searchable(p: Parameter) -> bool:
    return _flatten.dimensions(_flatten.spec_of(p.space)) > 0


def default(parameters: Iterable[Parameter], llm: Any = None, *, seed: int | None = None,
            vocabulary: Sequence[str] | None = None, objective: str | None = None,
            direction: Direction = "maximize", objectives: Mapping[str, str] | None = None,
            constraints: Sequence[Any] = (), **options: Any) -> Optimizer:
    """OptoPrime when an LLM is given or configured, else Search (+ Evolution for Text).

    ``options`` go to OptoPrime with an LLM (less those only Search takes, such as
    ``sampler``), to Search without one; so do a multi-objective task's ``objectives``
    and ``constraints``.

    Example:
        >>> from trace_core import Parameter
        >>> from trace_core.spaces import Float
        >>> type(default([Parameter(0.5, name="x", space=Float(0, 1))], seed=0)).__name__
        'Search'
    """
    params = list(parameters)
    if objectives is not None or constraints:  # a multi-objective task: OptoPrime and Search take them alike
        options = {"objectives": objectives, "constraints": list(constraints), **options}
    if llm is None:
        from trace_core.llm import llm_from_env

        llm = llm_from_env()
    if llm is not None:
        from optimizers.optoprime import OptoPrime

        log.info("optimizer: OptoPrime with %s", getattr(llm, "model", type(llm).__name__))
        if objective is not None:
            options.setdefault("objective", objective)
        options = {k: v for k, v in options.items() if k not in _SEARCH_ONLY}
        return OptoPrime(params, llm, direction=direction, **options)
    text = [p for p in params if p.space.kind == "text"]
    rest = [p for p in params if p.space.kind != "text"]
    if not any(_searchable(p) for p in rest):
        if not text:
            raise ConfigError(f"no LLM is configured and none of {[p.name for p in params]} can be searched "
                              "without one (Code needs an LLM): set TRACETUNE_LLM or pass llm=")
        log.info("optimizer: Evolution for %s (no LLM configured)", [p.name for p in params])
        return Evolution(params, seed=seed, vocabulary=vocabulary, objective=objective, direction=direction)
    search = Search(rest, seed=seed, direction=direction, **options)
    if not text:
        log.info("optimizer: Search (%s) for %s (no LLM configured)", search.sampler_name, [p.name for p in rest])
        return search
    log.info("optimizer: Search (%s) for %s + Evolution for %s (no LLM configured)", search.sampler_name,
             [p.name for p in rest], [p.name for p in text])
    evolution = Evolution(text, seed=seed, vocabulary=vocabulary, objective=objective, direction=direction)
    return Composite([search, evolution], direction=direction)
