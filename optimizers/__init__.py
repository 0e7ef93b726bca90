"""tracetune optimizers: OptoPrime, OPRO, Search (Optuna) and Evolution.

The optimizers are registered by name in :mod:`optimizers.registry` and imported on
first use (``optimizers.Search`` imports Optuna then, not ``import optimizers``).

Example:
    >>> from trace_core import Parameter
    >>> from trace_core.spaces import Float
    >>> from optimizers import Search
    >>> opt = Search([Parameter(0.5, name="x", space=Float(0, 1))], sampler="random", seed=0)
    >>> 0.0 <= opt.propose(k=1)[0].values["x"] <= 1.0
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optimizers.base import LLMCall, Optimizer, Update
from optimizers.composite import Composite
from optimizers.registry import OPTIMIZERS
from trace_core.registry import load_target

if TYPE_CHECKING:
    from optimizers._default import default
    from optimizers.evolution import Evolution
    from optimizers.llm import LLMOptimizer
    from optimizers.opro import OPRO
    from optimizers.optoprime import OptoPrime
    from optimizers.search import Search

__all__ = ["OptoPrime", "OPRO", "Search", "Evolution", "Composite", "Update", "Optimizer", "LLMOptimizer",
           "LLMCall", "default"]

#: public names that are not registered optimizers, imported on first use like them
_BASES = {"LLMOptimizer": "optimizers.llm:LLMOptimizer"}


def __getattr__(name: str) -> Any:
    targets = {t.partition(":")[2]: t for t in OPTIMIZERS.builtin_targets().values()}
    target = targets.get(name) or _BASES.get(name)
    if target is None:
        raise AttributeError(f"module 'optimizers' has no attribute {name!r}")
    value = load_target(target)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
