"""Shape knobs of the procedural vehicle and their physical meaning.

A design is described by a handful of *knobs*, each a number in ``[0, 1]``
(0.5 is a middle-of-the-road car). :mod:`.vocabulary` moves knobs from words;
:meth:`ShapeParams.dims` maps them to metres and exponents for :mod:`._loft`.

Example:
    >>> p = ShapeParams()
    >>> round(p.dims().length, 2)
    4.6
    >>> ShapeParams().replace(length=1.0).dims().length > 5.5
    True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["ShapeParams", "BodyDims", "KNOBS"]


@dataclass(frozen=True)
class BodyDims:
    """Physical description of one vehicle body (metres, ground at z = 0, nose at x = 0)."""

    length: float
    width: float
    height: float  #: roof height above the ground
    clearance: float  #: height of the underbody above the ground
    exponent: float  #: superellipse exponent of the cross-sections (2 round, 8 boxy)
    tumblehome: float  #: how much narrower the roof is than the beltline (0..0.35)
    nose_face: float  #: relative size of the flat front face (0 pointed, 0.85 flat)
    nose_length: float  #: fraction of the length over which the nose grows
    nose_tip: float  #: height of the nose tip within the body (0 floor, 1 roof)
    tail_end: float  #: relative size of the rear face (1 chopped, ~0 boattail)
    tail_length: float  #: fraction of the length over which the tail shrinks (sides)
    roof_tail_length: float  #: same for the roof line (longer = fastback)
    tail_tip: float  #: height of the tail tip within the body
    spoiler: float  #: spoiler height above the rear deck in metres (0 = none)
    wheel_radius: float
    wheels_covered: bool  #: True: narrow wheels inside the body's width (fairings, skirts)


@dataclass(frozen=True)
class ShapeParams:
    """Normalised design knobs, each in ``[0, 1]``; see :data:`KNOBS`."""

    length: float = 0.5
    width: float = 0.5
    height: float = 0.5
    clearance: float = 0.3
    boxiness: float = 0.35
    tumblehome: float = 0.5
    nose_bluntness: float = 0.35
    nose_length: float = 0.4
    nose_height: float = 0.4
    tail_taper: float = 0.35
    tail_length: float = 0.4
    fastback: float = 0.3
    tail_height: float = 0.55
    spoiler: float = 0.0
    wheel_size: float = 0.4
    wheel_cover: float = 0.0

    def replace(self, **changes: float) -> ShapeParams:
        """A copy with some knobs changed (clipped to ``[0, 1]``)."""
        return dataclasses.replace(self, **{k: min(1.0, max(0.0, float(v))) for k, v in changes.items()})

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)

    def dims(self) -> BodyDims:
        """Map the knobs to a physical body description."""
        tail_length = 0.08 + 0.42 * self.tail_length
        return BodyDims(
            length=3.4 + 2.4 * self.length,
            width=1.55 + 0.5 * self.width,
            height=1.1 + 1.0 * self.height,
            clearance=0.10 + 0.25 * self.clearance,
            exponent=2.0 + 6.0 * self.boxiness**1.5,
            tumblehome=0.05 + 0.3 * self.tumblehome,
            nose_face=0.02 + 0.83 * self.nose_bluntness,
            nose_length=0.08 + 0.32 * self.nose_length,
            nose_tip=0.1 + 0.8 * self.nose_height,
            tail_end=max(0.02, 1.0 - 0.98 * self.tail_taper),
            tail_length=tail_length,
            roof_tail_length=min(0.85, tail_length + 0.35 * self.fastback),
            tail_tip=0.1 + 0.8 * self.tail_height,
            spoiler=0.0 if self.spoiler < 0.5 else 0.06 + 0.4 * (self.spoiler - 0.5),
            wheel_radius=0.27 + 0.15 * self.wheel_size,
            wheels_covered=self.wheel_cover >= 0.5,
        )


#: knob names, in order
KNOBS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ShapeParams))
