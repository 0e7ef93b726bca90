"""tracetune optimizers: OptoPrime, OPRO, Search (Optuna) and Evolution."""

from __future__ import annotations

from optimizers.base import LLMCall, Optimizer, Update

__all__ = ["Optimizer", "Update", "LLMCall"]
