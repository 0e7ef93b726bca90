"""Hyperparameter optimization of a torch MLP on tabular data (task ``"hpo"``).

Example:
    >>> from tasks.hpo import HPOTask
    >>> sorted(p.name for p in HPOTask().parameters())[:3]
    ['batch_size', 'depth', 'dropout']
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["HPOTask", "default_config", "search_space"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(f"{__name__}.task"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
