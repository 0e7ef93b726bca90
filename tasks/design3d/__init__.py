"""Text-to-3D evolutionary design of aerodynamic vehicle bodies (Rios et al., 2023).

A text prompt is the design variable; a generator (:class:`ProceduralGenerator`
offline, :class:`ShapEGenerator` where installed) turns it into a mesh;
:func:`evaluate_mesh` scores its drag under class constraints; :class:`Design3DTask`
exposes it to the loop, with the :data:`VOCABULARY` and operator templates an
evolutionary optimizer uses. Names are imported lazily (trimesh and matplotlib
load only when used).

Example:
    >>> from tasks.design3d import ProceduralGenerator, evaluate_mesh
    >>> evaluate_mesh(ProceduralGenerator()("sleek coupe")).score > 0
    True
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Design3DTask",
    "InvalidPrompt",
    "Generator",
    "ProceduralGenerator",
    "make_generator",
    "ShapEGenerator",
    "normalize_mesh",
    "ShapeParams",
    "BodyDims",
    "VOCABULARY",
    "CATEGORIES",
    "parse_prompt",
    "ParsedPrompt",
    "VehicleClass",
    "CLASSES",
    "DragEstimate",
    "estimate_drag",
    "violations",
    "evaluate_mesh",
    "render_png",
    "render_base64",
    "data_uri",
    "export_mesh",
    "export_design",
    "mesh_bytes",
]

_WHERE = {
    "Design3DTask": "task",
    "InvalidPrompt": "task",
    "Generator": "generator",
    "ProceduralGenerator": "generator",
    "make_generator": "generator",
    "ShapEGenerator": "shap_e",
    "normalize_mesh": "shap_e",
    "ShapeParams": "shape",
    "BodyDims": "shape",
    "VOCABULARY": "vocabulary",
    "CATEGORIES": "vocabulary",
    "parse_prompt": "vocabulary",
    "ParsedPrompt": "vocabulary",
    "VehicleClass": "fitness",
    "CLASSES": "fitness",
    "DragEstimate": "fitness",
    "estimate_drag": "fitness",
    "violations": "fitness",
    "evaluate_mesh": "fitness",
    "render_png": "render",
    "render_base64": "render",
    "data_uri": "render",
    "export_mesh": "export",
    "export_design": "export",
    "mesh_bytes": "export",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tasks.design3d' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
