"""Preference-optimization tuning (task ``"preference"``): DPO, IPO, SimPO and SRPO in torch.

The losses, the tiny LM, the tokenizer, the data and the trainer import only torch
(and the standard library), so they run with ``PYTHONPATH=.`` on a machine with
torch alone; the task adapter (which needs ``trace_core``) is imported only when
asked for. Every name here is imported lazily.

Example:
    >>> from tasks.preference import dpo_loss
    >>> import torch
    >>> round(float(dpo_loss(torch.zeros(1, 2), torch.zeros(1, 2))), 4)
    0.6931
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "PreferenceTask",
    "default_config",
    "search_space",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "Diverged",
    "ModelConfig",
    "TinyLM",
    "CharTokenizer",
    "Pair",
    "Splits",
    "make_splits",
    "solve",
    "dpo_loss",
    "ipo_loss",
    "simpo_loss",
    "srpo_loss",
    "preference_loss",
    "greedy_generate",
    "self_revise",
]

_WHERE = {
    "PreferenceTask": "task",
    "default_config": "task",
    "search_space": "task",
    "TrainConfig": "trainer",
    "TrainResult": "trainer",
    "Trainer": "trainer",
    "Diverged": "trainer",
    "ModelConfig": "model",
    "TinyLM": "model",
    "CharTokenizer": "tokenizer",
    "Pair": "data",
    "Splits": "data",
    "make_splits": "data",
    "solve": "data",
    "dpo_loss": "losses",
    "ipo_loss": "losses",
    "simpo_loss": "losses",
    "srpo_loss": "losses",
    "preference_loss": "losses",
    "greedy_generate": "generate",
    "self_revise": "generate",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
