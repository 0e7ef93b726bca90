"""Neural architecture search for a torch classifier on tabular data (task ``"nas"``).

The architecture is a ``Json`` parameter (:class:`Architecture`, searchable by
Search) or, with ``mode="code"``, a ``Code`` parameter holding
``def build(in_features, n_classes)`` for LLM optimizers.

Example:
    >>> from tasks.nas import NASTask
    >>> [p.name for p in NASTask().parameters()]
    ['architecture']
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["NASTask", "Architecture", "Layer", "MAX_DEPTH", "DEFAULT_BUILD"]

_WHERE = {
    "NASTask": "task", "DEFAULT_BUILD": "task", "Architecture": "schema", "Layer": "schema", "MAX_DEPTH": "schema",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
