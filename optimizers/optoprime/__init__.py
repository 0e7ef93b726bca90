"""OptoPrime: propose new parameter values from the traced program and its feedback."""

from __future__ import annotations

from optimizers.optoprime.optimizer import OptoPrime

__all__ = ["OptoPrime"]
