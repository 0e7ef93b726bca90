"""Off-screen pictures of meshes (matplotlib 3D axes, Agg canvas) for reports.

No window and no global pyplot state: each call builds its own ``Figure`` on an
Agg canvas, so it is safe on a headless machine and from worker threads.

Example:
    >>> from tasks.design3d.generator import ProceduralGenerator
    >>> png = render_png(ProceduralGenerator()("sleek coupe"))
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import trimesh

__all__ = ["render_png", "render_base64", "data_uri"]

_LIGHT = np.array([-0.4, -0.5, 0.75]) / np.linalg.norm([-0.4, -0.5, 0.75])
_COLOR = np.array([0.27, 0.45, 0.72])


def _draw(ax: object, mesh: trimesh.Trimesh, title: str | None, elev: float, azim: float) -> None:
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    triangles = mesh.vertices[mesh.faces]
    shade = 0.35 + 0.65 * np.clip(mesh.face_normals @ _LIGHT, 0.0, 1.0)
    colors = np.clip(shade[:, None] * _COLOR[None, :], 0.0, 1.0)
    ax.add_collection3d(Poly3DCollection(triangles, facecolors=colors, edgecolors=(0, 0, 0, 0.05), linewidths=0.1))
    lo, hi = mesh.bounds
    for axis, a, b in zip("xyz", lo, hi):
        getattr(ax, f"set_{axis}lim")(a, b)
    ax.set_box_aspect(np.maximum(hi - lo, 1e-6), zoom=0.9)
    ax.view_init(elev=elev, azim=azim)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)


def render_png(
    meshes: trimesh.Trimesh | Sequence[trimesh.Trimesh],
    titles: Sequence[str] | None = None,
    *,
    size: tuple[int, int] = (480, 320),
    elev: float = 18.0,
    azim: float = -60.0,
) -> bytes:
    """PNG bytes showing one mesh, or several side by side (``size`` per mesh, pixels)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    items = [meshes] if isinstance(meshes, trimesh.Trimesh) else list(meshes)
    if not items:
        raise ValueError("render_png needs at least one mesh")
    labels = list(titles) if titles is not None else [None] * len(items)
    dpi = 100
    fig = Figure(figsize=(size[0] * len(items) / dpi, size[1] / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    for i, (mesh, label) in enumerate(zip(items, labels)):
        _draw(fig.add_subplot(1, len(items), i + 1, projection="3d"), mesh, label, elev, azim)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.92 if any(labels) else 1, wspace=0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def render_base64(meshes: trimesh.Trimesh | Sequence[trimesh.Trimesh], titles: Sequence[str] | None = None,
                  **options: object) -> str:
    """Like :func:`render_png`, base64-encoded (ASCII), for embedding in HTML or JSON."""
    return base64.b64encode(render_png(meshes, titles, **options)).decode("ascii")  # type: ignore[arg-type]


def data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
