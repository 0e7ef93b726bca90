"""Vectorised measurements of a closed triangle mesh along the flow axis ``x``.

- :func:`frontal_area`: area of the silhouette seen by the oncoming flow, i.e.
  the union of the upstream-facing triangles projected on the y-z plane. Each
  of ``rows`` horizontal lines is intersected with every triangle (an
  interval), intervals are merged per line, and the covered lengths are summed
  (exact along y, midpoint rule along z). No polygon union is built.
- :func:`sections`: cross-section area, area above a floor and roof height at
  stations along ``x``. A plane cuts each triangle into a segment, oriented by
  the triangle's normal; each cut is scanned along horizontal lines and a point
  is inside where the winding number is non-zero, so loops need no stitching and
  overlapping parts count once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Triangles", "silhouette_area", "frontal_area", "facing_area", "Sections", "sections"]


@dataclass(frozen=True)
class Triangles:
    """Corner coordinates ``(F, 3, 3)`` and area-weighted normals ``(F, 3)`` (twice the area)."""

    corners: np.ndarray
    normals: np.ndarray

    @classmethod
    def of(cls, vertices: np.ndarray, faces: np.ndarray) -> Triangles:
        corners = np.asarray(vertices, dtype=float)[np.asarray(faces)]
        normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        return cls(corners, normals)


def _expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(owner, k)`` for every integer ``k`` in ``[lo[owner], hi[owner])``."""
    counts = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(len(lo)), counts)
    return owner, lo[owner] + np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)


def _lines(z: np.ndarray, z_lo: float, dz: float) -> tuple[np.ndarray, np.ndarray]:
    """For shapes spanning heights ``z`` (..., n), pairs (shape, line) of the horizontal
    lines ``z_lo + dz (j + ½)`` each may cross."""
    first = np.ceil((z.min(axis=-1) - z_lo) / dz - 0.5).astype(np.int64)
    last = np.floor((z.max(axis=-1) - z_lo) / dz - 0.5).astype(np.int64) + 1
    return _expand(first, last)


def _union_length(key: np.ndarray, lo: np.ndarray, hi: np.ndarray, stride: float) -> float:
    """Total length of the union of intervals ``[lo, hi]`` grouped by integer ``key``."""
    start, end = lo + key * stride, hi + key * stride  # groups kept apart on one line
    order = np.argsort(start, kind="stable")
    start, end = start[order], end[order]
    reach = np.concatenate([[-np.inf], np.maximum.accumulate(end)[:-1]])
    return float(np.maximum(0.0, end - np.maximum(start, reach)).sum())


def silhouette_area(yz: np.ndarray, rows: int = 160) -> float:
    """Area (m²) of the union of triangles ``yz`` ``(T, 3, 2)`` in the y-z plane."""
    if len(yz) == 0:
        return 0.0
    z_lo, z_hi = yz[..., 1].min(), yz[..., 1].max()
    if z_hi <= z_lo:
        return 0.0
    dz = (z_hi - z_lo) / rows
    tri, row = _lines(yz[..., 1], z_lo, dz)
    line = (z_lo + dz * (row + 0.5))[:, None]
    a = yz[tri]  # (P, 3, [y, z])
    b = a[:, [1, 2, 0]]
    crosses = (a[..., 1] <= line) != (b[..., 1] <= line)  # (P, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = a[..., 0] + (line - a[..., 1]) / (b[..., 1] - a[..., 1]) * (b[..., 0] - a[..., 0])
    lo = np.where(crosses, y, np.inf).min(axis=1)
    hi = np.where(crosses, y, -np.inf).max(axis=1)
    ok = lo <= hi
    y0 = yz[..., 0].min()
    stride = 2.0 * (yz[..., 0].max() - y0) + 1.0
    return float(_union_length(row[ok], lo[ok] - y0, hi[ok] - y0, stride) * dz)


def frontal_area(tri: Triangles, rows: int = 120) -> float:
    """Area (m²) of the silhouette the oncoming flow sees (upstream-facing triangles)."""
    return silhouette_area(tri.corners[tri.normals[:, 0] < 0][:, :, 1:], rows)


def facing_area(tri: Triangles, min_cos: float, rear: bool, rows: int = 80) -> float:
    """Silhouette area (m²) of the triangles whose normal is within ``acos(min_cos)`` of
    the downstream (``rear``) or upstream direction."""
    length = np.linalg.norm(tri.normals, axis=1)
    nx = tri.normals[:, 0] * (1.0 if rear else -1.0)
    return silhouette_area(tri.corners[nx > min_cos * np.maximum(length, 1e-300)][:, :, 1:], rows)


@dataclass(frozen=True)
class Sections:
    """Measurements at stations ``x`` (one value per station)."""

    x: np.ndarray
    area: np.ndarray  #: cross-section area (m²); overlapping parts count once
    area_above: np.ndarray  #: cross-section area above the floor (m²)
    top: np.ndarray  #: highest point of the section (m; -inf where empty)
    floor: np.ndarray  #: floor height used: ``max(floor_height, keel + floor_thickness)``


def _cuts(tri: Triangles, stations: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments where planes ``x = station`` cut the triangles: station index and the
    end points ``p``, ``q`` ``(P, [y, z])``, oriented counter-clockwise around the solid."""
    xs = tri.corners[:, :, 0]
    face, station = _expand(  # one row per (face, station) cut
        np.searchsorted(stations, xs.min(axis=1), side="right"),
        np.searchsorted(stations, xs.max(axis=1), side="right"),
    )
    c = tri.corners[face]  # (P, 3, 3)
    d = c[:, :, 0] - stations[station][:, None]  # (P, 3)
    nxt = np.array([1, 2, 0])
    crosses = (d < 0) != (d[:, nxt] < 0)  # edge i -> i+1 crosses the plane
    with np.errstate(divide="ignore", invalid="ignore"):
        t = d / (d - d[:, nxt])
        points = c[:, :, 1:] + t[..., None] * (c[:, nxt, 1:] - c[:, :, 1:])  # (P, 3, [y, z])
    rows = np.arange(len(face))
    p = points[rows, np.argmax(crosses, axis=1)]
    q = points[rows, 2 - np.argmax(crosses[:, ::-1], axis=1)]
    n = tri.normals[face]
    flip = ((q - p) * np.stack([-n[:, 2], n[:, 1]], axis=-1)).sum(axis=-1) < 0
    return station, np.where(flip[:, None], q, p), np.where(flip[:, None], p, q)


def sections(tri: Triangles, stations: np.ndarray, floor_height: float, floor_thickness: float = 0.0,
             rows: int = 80) -> Sections:
    """Cut the mesh with planes ``x = station`` (sorted) and measure each cut.

    Each cut is scanned along ``rows`` horizontal lines; a point is inside when the
    winding number of the oriented segments around it is non-zero, so parts that
    overlap (a wheel inside the body) count once. The floor of a cut lies at least
    ``floor_height`` above the ground and ``floor_thickness`` above its keel (its
    lowest point on the centre line ``y = 0``, where wheels are not).
    """
    k = len(stations)
    station, p, q = _cuts(tri, stations)
    top = np.full(k, -np.inf)
    np.maximum.at(top, station, np.maximum(p[:, 1], q[:, 1]))
    centre = (p[:, 0] < 0) != (q[:, 0] < 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = p[centre, 1] - p[centre, 0] * (q[centre, 1] - p[centre, 1]) / (q[centre, 0] - p[centre, 0])
    keel = np.full(k, np.inf)
    np.minimum.at(keel, station[centre], z0)
    floor = np.maximum(floor_height, np.where(np.isfinite(keel), keel + floor_thickness, floor_height))
    z_lo, z_hi = tri.corners[:, :, 2].min(), tri.corners[:, :, 2].max()
    if not z_hi > z_lo:
        return Sections(stations, np.zeros(k), np.zeros(k), top, floor)
    dz = (z_hi - z_lo) / rows
    (y1, z1), (y2, z2) = p.T, q.T
    seg, row = _lines(np.stack([z1, z2], axis=-1), z_lo, dz)
    line = z_lo + dz * (row + 0.5)
    keep = (z1[seg] <= line) != (z2[seg] <= line)
    seg, row, line = seg[keep], row[keep], line[keep]
    y = y1[seg] + (line - z1[seg]) / (z2[seg] - z1[seg]) * (y2[seg] - y1[seg])
    group = station[seg] * rows + row
    order = np.lexsort((y, group))
    y, group, line = y[order], group[order], line[order]
    winding = np.cumsum(np.where(z2[seg] > z1[seg], 1, -1)[order])
    inside = (winding[:-1] != 0) & (group[:-1] == group[1:])
    length = np.where(inside, np.diff(y), 0.0) * dz
    where = group[:-1] // rows
    above = np.clip((line[:-1] + 0.5 * dz - floor[where]) / dz, 0.0, 1.0)  # share of the row above the floor
    return Sections(
        x=stations,
        area=np.bincount(where, length, minlength=k),
        area_above=np.bincount(where, above * length, minlength=k),
        top=top,
        floor=floor,
    )
