"""Pictures, STL/GLB exports and the optional Shap-E generator."""

from __future__ import annotations

import base64
import importlib.util
import io

import numpy as np
import pytest
import trimesh
from PIL import Image

from tasks.design3d import ProceduralGenerator, ShapEGenerator, data_uri, export_design, mesh_bytes, normalize_mesh
from tasks.design3d import render_base64, render_png
from tasks.design3d.shap_e import REQUIRED_FILES, shap_e_problem
from trace_core.errors import TaskError

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def mesh() -> trimesh.Trimesh:
    return ProceduralGenerator()("aggressive coupe with spoiler", seed=1)


def test_render_is_a_png_of_the_requested_size(mesh):
    one = render_png(mesh, size=(200, 120))
    assert one.startswith(PNG)
    assert Image.open(io.BytesIO(one)).size == (200, 120)
    two = render_png([mesh, mesh], ["a", "b"], size=(200, 120))
    assert Image.open(io.BytesIO(two)).size == (400, 120)
    pixels = np.asarray(Image.open(io.BytesIO(one)).convert("L"))
    assert pixels.min() < 128  # something was drawn on the white background
    b64 = render_base64(mesh, size=(200, 120))
    assert base64.b64decode(b64).startswith(PNG)
    assert data_uri(one).startswith("data:image/png;base64,")
    with pytest.raises(ValueError):
        render_png([])


def test_stl_and_glb_exports_open_again_with_trimesh(mesh, tmp_path):
    paths = export_design(mesh, tmp_path / "out", "best")
    assert sorted(paths) == ["glb", "stl"]
    for kind, path in paths.items():
        again = trimesh.load(path, force="mesh")
        assert again.is_watertight, kind
        assert again.volume == pytest.approx(mesh.volume, rel=1e-5), kind
        assert np.allclose(again.bounds, mesh.bounds, atol=1e-5), kind
    assert mesh_bytes(mesh, "stl")[:80] != b""
    with pytest.raises(ValueError, match="stl"):
        mesh_bytes(mesh, "obj")


def test_shap_e_is_unavailable_with_a_clear_message(tmp_path):
    if importlib.util.find_spec("shap_e") is not None:
        pytest.skip("shap_e is installed here")
    with pytest.raises(TaskError, match="Shap-E is not installed.*procedural"):
        ShapEGenerator(model_dir=tmp_path)
    assert "not installed" in shap_e_problem(tmp_path)


def test_shap_e_names_the_missing_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "shap_e" else None)
    (tmp_path / REQUIRED_FILES[0]).write_bytes(b"")
    problem = shap_e_problem(tmp_path)
    assert REQUIRED_FILES[1] in problem and REQUIRED_FILES[0] not in problem.split(":", 1)[1]
    assert "never downloads" in problem
    for name in REQUIRED_FILES:
        (tmp_path / name).write_bytes(b"")
    assert shap_e_problem(tmp_path) is None


def test_normalize_mesh_puts_a_mesh_in_the_task_frame():
    box = trimesh.creation.box(extents=[0.5, 2.0, 0.6])  # long along y
    box.apply_translation([3.0, -1.0, 2.0])
    out = normalize_mesh(box, length=4.0)
    assert out.extents[0] == pytest.approx(4.0) and out.extents[0] > out.extents[1]
    assert out.bounds[0][0] == pytest.approx(0.0) and out.bounds[0][2] == pytest.approx(0.0)
    assert abs(out.bounds[0][1] + out.bounds[1][1]) < 1e-9
    assert out.is_watertight and out.volume > 0
