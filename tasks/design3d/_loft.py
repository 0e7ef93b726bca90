"""Low-poly vehicle meshes built directly as vertex and face arrays.

The body is a loft of superellipse cross-sections along the flow axis ``x``
(nose at ``x = 0``), closed by a fan at each end; wheels and the spoiler are
closed prisms. Every part is a closed, consistently wound surface, so the union
is watertight without boolean operations (parts may overlap; the fitness
handles overlap where it matters: the frontal silhouette).
"""

from __future__ import annotations

import numpy as np

from .shape import BodyDims

__all__ = ["loft_vehicle", "STATIONS", "RING"]

STATIONS = 22  #: cross-sections along the body
RING = 16  #: points per cross-section
WHEEL_RING = 10
WHEEL_WIDTH = 0.22  #: exposed wheels; covered ones are narrower and set in
COVERED_WIDTH = 0.14


def _closed(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip the winding of a closed part whose signed volume is negative."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    if np.einsum("ij,ij->", a, np.cross(b, c)) < 0:
        faces = faces[:, ::-1]
    return vertices, faces


def _tube_faces(rings: int, ring: int) -> np.ndarray:
    """Faces joining ``rings`` consecutive rings of ``ring`` points, plus two end fans.

    Vertices are laid out ring after ring, then the two fan centres.
    """
    k, j = np.meshgrid(np.arange(rings - 1), np.arange(ring), indexing="ij")
    a = k * ring + j
    b = k * ring + (j + 1) % ring
    quads = np.stack([a, b, b + ring, a, b + ring, a + ring], axis=-1).reshape(-1, 3)
    j = np.arange(ring)
    first, last = rings * ring, rings * ring + 1
    front = np.stack([np.full(ring, first), (j + 1) % ring, j], axis=-1)
    back_ring = (rings - 1) * ring
    back = np.stack([np.full(ring, last), back_ring + j, back_ring + (j + 1) % ring], axis=-1)
    return np.concatenate([quads, front, back])


def _profile(u: np.ndarray, face: float, nose: float, end: float, tail: float) -> np.ndarray:
    """Relative section size along the body: elliptic nose growth, parabolic tail fall."""
    grow = np.sqrt(np.clip(1.0 - (1.0 - np.clip(u / nose, 0.0, 1.0)) ** 2, 0.0, 1.0))
    front = face + (1.0 - face) * grow
    fall = np.clip((u - (1.0 - tail)) / tail, 0.0, 1.0) ** 2
    return front * (1.0 - (1.0 - end) * fall)


def _body(d: BodyDims) -> tuple[np.ndarray, np.ndarray]:
    u = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, STATIONS))
    s_w = _profile(u, d.nose_face, d.nose_length, d.tail_end, d.tail_length)
    s_h = _profile(u, d.nose_face, d.nose_length, d.tail_end, d.roof_tail_length)
    span = d.height - d.clearance
    tip = d.clearance + span * (d.nose_tip + (d.tail_tip - d.nose_tip) * u)
    top = tip + (d.height - tip) * s_h
    bottom = tip - (tip - d.clearance) * s_h
    theta = 2.0 * np.pi * (np.arange(RING) + 0.5) / RING
    power = 2.0 / d.exponent
    cy = np.sign(np.cos(theta)) * np.abs(np.cos(theta)) ** power
    cz = np.sign(np.sin(theta)) * np.abs(np.sin(theta)) ** power
    narrowing = 1.0 - d.tumblehome * np.maximum(cz, 0.0)
    half_w = 0.5 * d.width * s_w[:, None]
    y = half_w * (cy * narrowing)[None, :]
    z = 0.5 * (top + bottom)[:, None] + 0.5 * (top - bottom)[:, None] * cz[None, :]
    x = np.broadcast_to((u * d.length)[:, None], y.shape)
    rings = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    mid = 0.5 * (top + bottom)
    centres = np.array([[0.0, 0.0, mid[0]], [d.length, 0.0, mid[-1]]])
    return _closed(np.concatenate([rings, centres]), _tube_faces(STATIONS, RING))


def _prism(ring_xz: np.ndarray, y0: float, y1: float) -> tuple[np.ndarray, np.ndarray]:
    """A closed prism: polygon ``ring_xz`` in the x-z plane extruded from ``y0`` to ``y1``."""
    n = len(ring_xz)
    rings = np.concatenate([np.insert(ring_xz, 1, y, axis=1) for y in (y0, y1)])
    centre = ring_xz.mean(axis=0)
    centres = np.array([[centre[0], y0, centre[1]], [centre[0], y1, centre[1]]])
    return _closed(np.concatenate([rings, centres]), _tube_faces(2, n))


def _wheels(d: BodyDims) -> list[tuple[np.ndarray, np.ndarray]]:
    phi = 2.0 * np.pi * np.arange(WHEEL_RING) / WHEEL_RING
    r = d.wheel_radius
    parts = []
    width, outer = (COVERED_WIDTH, 0.5 * d.width - 0.15) if d.wheels_covered else (WHEEL_WIDTH, 0.5 * d.width - 0.03)
    for x in (0.18 * d.length, 0.8 * d.length):
        ring = np.stack([x + r * np.cos(phi), r + r * np.sin(phi)], axis=-1)
        parts += [_prism(ring, outer - width, outer), _prism(ring, -outer, -outer + width)]
    return parts


def _spoiler(d: BodyDims, deck: float, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    x0, x1 = 0.88 * d.length, 0.95 * d.length
    ring = np.array([[x0, deck - 0.05], [x1, deck - 0.05], [x1, deck + d.spoiler], [x0, deck + d.spoiler]])
    return _prism(ring, -0.8 * half_width, 0.8 * half_width)


def _deck(vertices: np.ndarray, x: float) -> tuple[float, float]:
    """Height and half-width of the body surface near station ``x``."""
    ring = vertices[: STATIONS * RING].reshape(STATIONS, RING, 3)
    k = int(np.argmin(np.abs(ring[:, 0, 0] - x)))
    return float(ring[k, :, 2].max()), float(ring[k, :, 1].max())


def loft_vehicle(d: BodyDims) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and faces of the whole vehicle (body, wheels, spoiler)."""
    parts = [_body(d), *_wheels(d)]
    if d.spoiler > 0:
        deck, half_width = _deck(parts[0][0], 0.915 * d.length)
        parts.append(_spoiler(d, deck, half_width))
    vertices, faces, offset = [], [], 0
    for v, f in parts:
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
    return np.concatenate(vertices), np.concatenate(faces).astype(np.int64)
