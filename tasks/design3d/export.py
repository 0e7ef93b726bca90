"""Export meshes as STL (for CAD / CFD tools) and GLB (for viewers and reports).

Example:
    >>> import tempfile, trimesh
    >>> from tasks.design3d.generator import ProceduralGenerator
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = export_design(ProceduralGenerator()("sleek coupe"), d, "best")
    ...     trimesh.load(paths["stl"]).is_watertight
    True
"""

from __future__ import annotations

from pathlib import Path

import trimesh

__all__ = ["FORMATS", "mesh_bytes", "export_mesh", "export_design"]

FORMATS = ("stl", "glb")


def mesh_bytes(mesh: trimesh.Trimesh, file_type: str) -> bytes:
    """The mesh encoded as ``"stl"`` (binary) or ``"glb"``."""
    kind = file_type.lower().lstrip(".")
    if kind not in FORMATS:
        raise ValueError(f"cannot export {file_type!r}: choose one of {', '.join(FORMATS)}")
    data = mesh.export(file_type=kind)
    return data if isinstance(data, bytes) else data.encode()


def export_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Write ``mesh`` to ``path``; the format comes from the suffix (``.stl`` or ``.glb``)."""
    path = Path(path)
    data = mesh_bytes(mesh, path.suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def export_design(mesh: trimesh.Trimesh, directory: str | Path, stem: str) -> dict[str, Path]:
    """Write ``<directory>/<stem>.stl`` and ``.glb``; returns format -> path."""
    return {kind: export_mesh(mesh, Path(directory) / f"{stem}.{kind}") for kind in FORMATS}
