"""Shared torch training helpers for the ``hpo`` and ``nas`` tasks.

The modules :mod:`.data`, :mod:`.train` and :mod:`.curve` import only torch,
numpy, scikit-learn and the standard library, so training runs with
``PYTHONPATH=.`` on a machine that has nothing else (a GPU box, say).
:mod:`.adapter` turns a training record into tracetune Feedback and imports
``trace_core``. Names are imported lazily.

Example:
    >>> from tasks._torch import load_data
    >>> load_data("wine").n_classes
    3
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "TabularData",
    "load_data",
    "TrainRecord",
    "build_mlp",
    "seeded_build",
    "train_model",
    "count_parameters",
    "latency_ms",
    "resolve_device",
    "format_curve",
    "diagnose",
]

_WHERE = {
    "TabularData": "data",
    "load_data": "data",
    "TrainRecord": "train",
    "build_mlp": "train",
    "seeded_build": "train",
    "train_model": "train",
    "count_parameters": "train",
    "latency_ms": "train",
    "resolve_device": "train",
    "format_curve": "curve",
    "diagnose": "curve",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
