"""An installed distribution without pip: a ``*.dist-info`` folder with its entry points,
found by :mod:`importlib.metadata` once its parent folder is on ``sys.path``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def fake_distribution(root: Path, name: str, entry_points: Mapping[str, Mapping[str, str]],
                      version: str = "0.1.0") -> Path:
    """Write ``<root>/<name>-<version>.dist-info`` declaring ``entry_points`` (group -> name -> target)."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    lines = []
    for group, targets in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{n} = {t}" for n, t in targets.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return info
