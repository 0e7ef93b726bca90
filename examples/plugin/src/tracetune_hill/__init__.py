"""An example tracetune plugin: the ``hill`` optimizer and the ``line_fit`` task.

tracetune finds them through the entry points in ``pyproject.toml``; nothing here is
imported until a run names them.
"""

from __future__ import annotations

__all__ = ["HillClimb", "LineFitTask"]


def __getattr__(name: str):  # noqa: ANN202 - lazy, as tracetune's own packages
    if name == "HillClimb":
        from tracetune_hill.optimizer import HillClimb

        return HillClimb
    if name == "LineFitTask":
        from tracetune_hill.task import LineFitTask

        return LineFitTask
    raise AttributeError(f"module 'tracetune_hill' has no attribute {name!r}")
