"""tracetune optimizers: OptoPrime, OPRO, Search (Optuna) and Evolution.

``OptoPrime`` and ``OPRO`` are imported on first use.

Example:
    >>> from trace_core import Parameter
    >>> from trace_core.spaces import Float
    >>> from optimizers import Search
    >>> opt = Search([Parameter(0.5, name="x", space=Float(0, 1))], sampler="random", seed=0)
    >>> 0.0 <= opt.propose(k=1)[0].values["x"] <= 1.0
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from optimizers.base import LLMCall, Optimizer, Update
from optimizers.composite import Composite
from optimizers._default import default
from optimizers.evolution import Evolution
from optimizers.search import Search

if TYPE_CHECKING:
    from optimizers.opro import OPRO
    from optimizers.optoprime import OptoPrime

__all__ = ["OptoPrime", "OPRO", "Search", "Evolution", "Composite", "Update", "Optimizer", "LLMCall", "default"]

_LAZY = {"OptoPrime": "optimizers.optoprime", "OPRO": "optimizers.opro"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'optimizers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
