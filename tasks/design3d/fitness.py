"""Fitness of a vehicle mesh: an aerodynamic drag estimate plus class constraints.

Drag force ``D = ½ ρ v² · CdA`` with ``CdA`` built from the shape (flow along
``+x``, ground at ``z = 0``):

- **skin friction and form** (Hoerner's relation for streamlined bodies, on the
  largest cross-section ``A_max``): ``Cd = Cf (3 f + 4.5 f^-½ + 21 f^-2)`` with
  fineness ``f = L / d_eq``, ``d_eq = √(4 A_max / π)`` and the turbulent
  flat-plate ``Cf = 0.455 / log10(Re)^2.58``;
- **bluff rear** (Hoerner's base drag): ``0.029 (A_base/A_max)^1.5 / √Cd_form``,
  where ``A_base`` is the silhouette of rear surfaces inclined more than 20° to
  the flow (the flow separates there);
- **bluff nose**: ``0.8 · A_flat/A_max``, ``A_flat`` the silhouette of front
  surfaces within 15° of facing the flow;
- **ground and underbody**: a constant 0.07;
- **protrusions**: ``0.6`` times the frontal area outside the largest
  cross-section (wheels, spoilers, bumps).

Constraints (a :class:`VehicleClass`): a closed, consistently wound mesh;
length, width and volume within the class; cabin height (highest roof above
the floor) and cabin volume (volume above the floor where a seated person has
headroom) at least the class minimum. The floor lies at least ``floor_height``
above the ground and ``floor_thickness`` above the underbody, so lifting the
body does not make room.

Example:
    >>> from tasks.design3d.generator import ProceduralGenerator
    >>> gen = ProceduralGenerator()
    >>> sleek = estimate_drag(gen("sleek long teardrop low"))
    >>> boxy = estimate_drag(gen("boxy tall short blunt"))
    >>> bool(sleek.drag < boxy.drag)
    True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import trimesh

from trace_core.errors import ConfigError
from trace_core.feedback import Feedback

from ._geometry import Triangles, facing_area, frontal_area, sections

__all__ = [
    "VehicleClass",
    "CLASSES",
    "resolve_class",
    "DragEstimate",
    "estimate_drag",
    "violations",
    "evaluate_mesh",
    "AIR_DENSITY",
    "VISCOSITY",
]

AIR_DENSITY = 1.225  #: kg/m³
VISCOSITY = 1.5e-5  #: kinematic viscosity of air, m²/s
CD_GROUND = 0.07
CD_PROTRUSION = 0.6
CD_FLAT_NOSE = 0.8
SEPARATION_DEG = 20.0
FLAT_DEG = 15.0
STATIONS = 40


@dataclass(frozen=True)
class VehicleClass:
    """Limits a design must meet to count as a vehicle of this class (metres, m³)."""

    name: str
    min_length: float
    max_length: float
    max_width: float
    min_volume: float
    max_volume: float
    min_cabin_height: float  #: highest roof point above the floor
    min_cabin_volume: float  #: volume above the floor where headroom >= seated_headroom
    floor_height: float = 0.3  #: the floor is at least this high above the ground ...
    floor_thickness: float = 0.12  #: ... and this high above the underbody (keel)
    seated_headroom: float = 0.85


CLASSES: dict[str, VehicleClass] = {
    "car": VehicleClass("car", 3.5, 5.6, 2.1, 4.0, 18.0, 0.95, 2.5),
    "van": VehicleClass("van", 4.0, 6.5, 2.3, 8.0, 35.0, 1.3, 6.0, floor_height=0.45, seated_headroom=1.0),
}


def resolve_class(name: str | VehicleClass) -> VehicleClass:
    """The class called ``name`` (or ``name`` itself when it is one)."""
    if isinstance(name, VehicleClass):
        return name
    try:
        return CLASSES[name]
    except KeyError:
        raise ConfigError(f"unknown vehicle class {name!r}; known: {', '.join(CLASSES)}") from None


@dataclass(frozen=True)
class DragEstimate:
    """Geometry and drag of one mesh (SI units; areas in m²)."""

    drag: float  #: N at ``speed``
    cd: float  #: drag coefficient on the frontal area
    cd_area: float
    frontal_area: float
    max_section: float
    length: float
    width: float
    height: float
    volume: float
    fineness: float
    cd_form: float
    cd_base: float
    cd_nose: float
    protrusion_area: float
    cabin_height: float
    cabin_volume: float
    speed: float

    def metrics(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    def breakdown(self) -> str:
        """Where the drag comes from, largest first, for feedback text."""
        parts = {
            "skin friction and form (fineness)": self.cd_form * self.max_section,
            "bluff rear / wake": self.cd_base * self.max_section,
            "flat nose": self.cd_nose * self.max_section,
            "ground and underbody": CD_GROUND * self.max_section,
            "protrusions (wheels, spoiler, bumps)": CD_PROTRUSION * self.protrusion_area,
        }
        ranked = sorted(parts.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name} {100 * value / self.cd_area:.0f}%" for name, value in ranked if value > 0)


def skin_friction(length: float, speed: float) -> float:
    """Turbulent flat-plate skin-friction coefficient (Schlichting)."""
    reynolds = max(speed * length / VISCOSITY, 1e5)
    return 0.455 / math.log10(reynolds) ** 2.58


def estimate_drag(mesh: trimesh.Trimesh, speed: float = 30.0, vehicle_class: VehicleClass | None = None) -> DragEstimate:
    """Drag and geometry of ``mesh`` at ``speed`` (m/s); cabin measured for ``vehicle_class``."""
    vc = vehicle_class or CLASSES["car"]
    tri = Triangles.of(mesh.vertices, mesh.faces)
    lo, hi = mesh.bounds
    length, width, height = (hi - lo).tolist()
    stations = lo[0] + length * (np.arange(STATIONS) + 0.5) / STATIONS
    cut = sections(tri, stations, vc.floor_height, vc.floor_thickness)
    a_max = max(float(cut.area.max()), 1e-9)
    a_front = frontal_area(tri)
    fineness = length / math.sqrt(4.0 * a_max / math.pi)
    cd_form = skin_friction(length, speed) * (3.0 * fineness + 4.5 / math.sqrt(fineness) + 21.0 / fineness**2)
    base = min(1.0, facing_area(tri, math.sin(math.radians(SEPARATION_DEG)), rear=True) / a_max)
    cd_base = 0.029 * base**1.5 / math.sqrt(cd_form)
    flat = min(1.0, facing_area(tri, math.cos(math.radians(FLAT_DEG)), rear=False) / a_max)
    cd_nose = CD_FLAT_NOSE * flat
    protrusion = max(0.0, a_front - a_max)
    cd_area = a_max * (cd_form + cd_base + cd_nose + CD_GROUND) + CD_PROTRUSION * protrusion
    headroom = cut.top - cut.floor
    seated = headroom >= vc.seated_headroom
    return DragEstimate(
        drag=0.5 * AIR_DENSITY * speed**2 * cd_area,
        cd=cd_area / max(a_front, 1e-9),
        cd_area=cd_area,
        frontal_area=a_front,
        max_section=a_max,
        length=length,
        width=width,
        height=height,
        volume=float(np.einsum("ij,ij->", tri.corners[:, 0], np.cross(tri.corners[:, 1], tri.corners[:, 2])) / 6.0),
        fineness=fineness,
        cd_form=cd_form,
        cd_base=cd_base,
        cd_nose=cd_nose,
        protrusion_area=protrusion,
        cabin_height=float(max(headroom.max(), 0.0)),
        cabin_volume=float(cut.area_above[seated].sum() * length / STATIONS),
        speed=speed,
    )


def violations(estimate: DragEstimate, vehicle_class: VehicleClass) -> list[str]:
    """Why the design is out of its class (empty when it fits), each with what to change."""
    vc, e, out = vehicle_class, estimate, []
    if e.length < vc.min_length:
        out.append(f"length {e.length:.2f} m is below the {vc.name} minimum {vc.min_length:.2f} m: make it longer")
    if e.length > vc.max_length:
        out.append(f"length {e.length:.2f} m is above the {vc.name} maximum {vc.max_length:.2f} m: make it shorter")
    if e.width > vc.max_width:
        out.append(f"width {e.width:.2f} m is above the {vc.name} maximum {vc.max_width:.2f} m: make it narrower")
    if e.volume < vc.min_volume:
        out.append(f"volume {e.volume:.2f} m³ is below the {vc.name} minimum {vc.min_volume:.1f} m³: make it bigger")
    if e.volume > vc.max_volume:
        out.append(f"volume {e.volume:.2f} m³ is above the {vc.name} maximum {vc.max_volume:.1f} m³: make it smaller")
    if e.cabin_height < vc.min_cabin_height:
        out.append(
            f"cabin height {e.cabin_height:.2f} m (roof above the floor) is below "
            f"the minimum {vc.min_cabin_height:.2f} m: people do not fit; make it taller"
        )
    if e.cabin_volume < vc.min_cabin_volume:
        out.append(
            f"cabin volume {e.cabin_volume:.2f} m³ (where headroom >= {vc.seated_headroom:.2f} m) is below the "
            f"minimum {vc.min_cabin_volume:.1f} m³: give the cabin more room (taller, longer roof, less taper)"
        )
    return out


def _watertight_problem(mesh: trimesh.Trimesh) -> str | None:
    if len(mesh.faces) == 0:
        return "the mesh is empty: the generator produced no surface"
    if not mesh.is_watertight:
        return "the mesh is not watertight (it has open or non-manifold edges), so it has no volume to score"
    if not mesh.is_winding_consistent:
        return "the mesh's faces are not consistently oriented, so inside and outside are undefined"
    return None


def _listed(words: list[str], most: int = 40) -> str:
    """Each word once, in first-seen order, with ``xN`` when repeated; at most ``most`` words."""
    counts: dict[str, int] = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    shown = [f"{w} x{n}" if n > 1 else w for w, n in list(counts.items())[:most]]
    more = len(counts) - most
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _words(mesh: trimesh.Trimesh) -> str:
    info = mesh.metadata.get("design3d", {}) if isinstance(mesh.metadata, dict) else {}
    out = []
    if info.get("known"):
        out.append("shape words used: " + _listed(info["known"]))
    elif "known" in info:
        out.append("the prompt has no shape word the generator knows, so it built its default body")
    if info.get("ignored"):
        out.append("ignored (the generator does not know them): " + _listed(info["ignored"]))
    return ("; ".join(out) + ".") if out else ""


def evaluate_mesh(mesh: trimesh.Trimesh, vehicle_class: str | VehicleClass = "car", speed: float = 30.0) -> Feedback:
    """Score a mesh: drag in N (lower is better) with metrics, or a failure with the reasons."""
    vc = resolve_class(vehicle_class)
    problem = _watertight_problem(mesh)
    if problem is not None:
        return Feedback.failure(problem + ". " + _words(mesh), violations=[problem])
    est = estimate_drag(mesh, speed, vc)
    summary = (
        f"drag {est.drag:.1f} N at {speed:g} m/s (Cd {est.cd:.3f} x frontal area {est.frontal_area:.2f} m²); "
        f"length {est.length:.2f} m, width {est.width:.2f} m, height {est.height:.2f} m, "
        f"volume {est.volume:.2f} m³, cabin height {est.cabin_height:.2f} m, cabin volume {est.cabin_volume:.2f} m³. "
        f"Drag sources: {est.breakdown()}."
    )
    words = _words(mesh)
    problems = violations(est, vc)
    if problems:
        text = f"out of the {vc.name} class: " + "; ".join(problems) + f". (Would have {summary}) {words}"
        failed = Feedback.failure(text.strip(), violations=problems, vehicle_class=vc.name)
        return failed.model_copy(update={"metrics": est.metrics()})
    text = f"{summary} Constraints of the {vc.name} class are met. {words}"
    return Feedback(score=est.drag, metrics=est.metrics(), text=text.strip(), details={"vehicle_class": vc.name})
