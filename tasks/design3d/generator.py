"""Text-to-3D generators: one interface, ``(prompt, seed) -> trimesh.Trimesh``.

Meshes stand on the ground plane ``z = 0`` with the nose toward ``-x`` (the
flow runs along ``+x``), in metres. :class:`ProceduralGenerator` is the offline
default; :class:`~.shap_e.ShapEGenerator` drives Shap-E where it is installed
with its weights.

Example:
    >>> gen = ProceduralGenerator()
    >>> mesh = gen("sleek long teardrop low", seed=0)
    >>> mesh.is_watertight
    True
    >>> mesh.metadata["design3d"]["ignored"]
    []
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

import numpy as np
import trimesh

from trace_core.errors import ConfigError

from ._loft import loft_vehicle
from .shape import KNOBS, ShapeParams
from .vocabulary import VOCABULARY, ParsedPrompt, parse_prompt

__all__ = ["Generator", "ProceduralGenerator", "make_generator"]

log = logging.getLogger(__name__)


@runtime_checkable
class Generator(Protocol):
    """Turns a design prompt into a mesh; the same prompt and seed give the same mesh."""

    def __call__(self, prompt: str, seed: int = 0) -> trimesh.Trimesh: ...


class ProceduralGenerator:
    """Offline text-to-3D: reads the prompt's shape words and lofts a low-poly vehicle.

    The seed jitters every knob by a small amount (``jitter``, standard deviation
    in knob units) drawn from the seed alone, so two prompts compared at one seed
    see the same perturbation. ``mesh.metadata["design3d"]`` holds the words used,
    the words ignored and the knob values.

    Example:
        >>> gen = ProceduralGenerator(jitter=0.0)
        >>> a, b = gen("boxy tall van"), gen("low sleek coupe")
        >>> bool(a.extents[2] > b.extents[2])
        True
    """

    vocabulary = VOCABULARY

    def __init__(self, *, jitter: float = 0.02, base: ShapeParams | None = None) -> None:
        self.jitter = float(jitter)
        self.base = base or ShapeParams()

    def __repr__(self) -> str:
        return f"ProceduralGenerator(jitter={self.jitter})"

    def parse(self, prompt: str, seed: int = 0) -> ParsedPrompt:
        """The knobs a prompt and seed give (before building the mesh)."""
        parsed = parse_prompt(prompt, self.base)
        if self.jitter > 0:
            noise = np.random.default_rng(int(seed) % 2**64).normal(0.0, self.jitter, len(KNOBS))
            values = parsed.params.as_dict()
            params = parsed.params.replace(**{k: values[k] + n for k, n in zip(KNOBS, noise)})
            parsed = ParsedPrompt(params=params, known=parsed.known, ignored=parsed.ignored)
        return parsed

    def __call__(self, prompt: str, seed: int = 0) -> trimesh.Trimesh:
        parsed = self.parse(prompt, seed)
        if parsed.ignored:
            log.debug("ignored words in %r: %s", prompt, ", ".join(parsed.ignored))
        vertices, faces = loft_vehicle(parsed.params.dims())
        mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
        mesh.metadata["design3d"] = {
            "generator": "procedural",
            "prompt": prompt,
            "seed": int(seed),
            "known": list(parsed.known),
            "ignored": list(parsed.ignored),
            "knobs": {k: round(v, 4) for k, v in parsed.params.as_dict().items()},
        }
        return mesh


def make_generator(name: str = "procedural", **options: Any) -> Generator:
    """Build a generator by name: ``"procedural"`` or ``"shap-e"``."""
    key = name.lower().replace("_", "-")
    if key == "procedural":
        return ProceduralGenerator(**options)
    if key in ("shap-e", "shape"):
        from .shap_e import ShapEGenerator

        return ShapEGenerator(**options)
    raise ConfigError(f"unknown design3d generator {name!r}: use 'procedural' or 'shap-e'")
