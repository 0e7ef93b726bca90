"""The architecture schema: a fixed-size description Search can sample.

Only numbers, choices and a fixed-length list, so a sampler can flatten it into
independent dimensions: ``n_layers`` says how many of the ``MAX_DEPTH`` layer
slots are used; the unused slots are ignored. A person may give fewer slots
(at least ``n_layers``; without ``n_layers``, as many as given are used): the
rest are filled with default layers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["MAX_DEPTH", "Layer", "Architecture"]

#: number of layer slots in an :class:`Architecture`
MAX_DEPTH = 4


class Layer(BaseModel):
    """One hidden layer: Linear(width) → normalization → activation → dropout.

    ``skip`` adds the layer's input to its output (a residual connection); when
    the input width differs, the input passes through a bias-free linear projection.

    Example:
        >>> Layer(width=128, norm="batch").activation
        'relu'
    """

    model_config = ConfigDict(extra="forbid")

    width: Literal[16, 32, 64, 128, 256] = 64
    activation: Literal["relu", "gelu", "tanh", "silu"] = "relu"
    norm: Literal["none", "batch", "layer"] = "none"
    dropout: float = Field(default=0.0, ge=0.0, le=0.5)
    skip: bool = False


class Architecture(BaseModel):
    """An MLP classifier: the first ``n_layers`` of ``layers``, then a linear head.

    Example:
        >>> Architecture(n_layers=1).layers[0].width
        64
    """

    model_config = ConfigDict(extra="forbid")

    n_layers: int = Field(default=2, ge=1, le=MAX_DEPTH)
    layers: list[Layer] = Field(
        default_factory=lambda: [Layer() for _ in range(MAX_DEPTH)], min_length=MAX_DEPTH, max_length=MAX_DEPTH
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_slots(cls, data: Any) -> Any:
        """Pad a short ``layers`` list with default layers; it must cover ``n_layers``."""
        if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
            return data
        layers = data["layers"]
        if len(layers) >= MAX_DEPTH:
            return data
        n = data.get("n_layers", len(layers))
        if isinstance(n, int) and not isinstance(n, bool) and n > len(layers):
            raise ValueError(
                f"n_layers is {n} but only {len(layers)} layer(s) are given: give one layer for each of the "
                f"first n_layers slots (or lower n_layers)"
            )
        return {**data, "n_layers": n, "layers": [*layers, *({} for _ in range(MAX_DEPTH - len(layers)))]}
