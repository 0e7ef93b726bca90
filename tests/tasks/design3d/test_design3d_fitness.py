"""Drag estimate and class constraints of vehicle meshes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from tasks.design3d import CLASSES, ProceduralGenerator, estimate_drag, evaluate_mesh, violations
from tasks.design3d._geometry import Triangles, frontal_area, sections
from tasks.design3d.fitness import resolve_class
from trace_core.errors import ConfigError


@pytest.fixture(scope="module")
def gen() -> ProceduralGenerator:
    return ProceduralGenerator()


def _x_cylinder(radius: float, length: float) -> trimesh.Trimesh:
    cyl = trimesh.creation.cylinder(radius=radius, height=length, sections=48)
    cyl.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    cyl.apply_translation([length / 2, 0, radius])
    return cyl


def test_areas_match_closed_forms_and_trimesh():
    box = trimesh.creation.box(extents=[4.0, 2.0, 1.5])
    tri = Triangles.of(box.vertices, box.faces)
    assert frontal_area(tri) == pytest.approx(3.0, rel=1e-9)
    cut = sections(tri, np.array([-1.0, 0.0, 1.5]), floor_height=0.25)
    assert np.allclose(cut.area, 3.0, rtol=1e-6) and np.allclose(cut.area_above, 2.0 * 0.5, rtol=1e-6)
    assert np.allclose(cut.top, 0.75)
    raised = sections(tri, np.array([0.0]), floor_height=-10.0, floor_thickness=0.5)  # keel at z = -0.75
    assert raised.floor[0] == pytest.approx(-0.25) and raised.area_above[0] == pytest.approx(2.0, rel=1e-6)
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    expected = sphere.projected([1.0, 0.0, 0.0]).area  # shapely union of projected faces
    assert frontal_area(Triangles.of(sphere.vertices, sphere.faces)) == pytest.approx(expected, rel=2e-3)


def test_overlapping_parts_count_once_in_sections_and_silhouette():
    a = trimesh.creation.box(extents=[2.0, 1.0, 1.0])
    b = a.copy()
    b.apply_translation([0.0, 0.5, 0.0])  # half inside a
    both = trimesh.util.concatenate([a, b])
    tri = Triangles.of(both.vertices, both.faces)
    assert frontal_area(tri) == pytest.approx(1.5, rel=1e-6)
    assert sections(tri, np.array([0.0]), floor_height=-1.0).area[0] == pytest.approx(1.5, rel=1e-2)


def test_streamlined_prompt_has_less_drag_than_a_boxy_one(gen):
    for seed in range(3):
        sleek = estimate_drag(gen("sleek long teardrop low", seed))
        boxy = estimate_drag(gen("boxy tall short blunt", seed))
        assert sleek.drag < 0.5 * boxy.drag
        assert sleek.cd < boxy.cd and sleek.frontal_area < boxy.frontal_area
        assert sleek.fineness > boxy.fineness and sleek.cd_nose < boxy.cd_nose


def test_drag_grows_with_the_square_of_speed_and_with_bluffness(gen):
    mesh = gen("sedan")
    slow, fast = estimate_drag(mesh, speed=20.0), estimate_drag(mesh, speed=40.0)
    assert fast.drag / slow.drag == pytest.approx(4.0, rel=0.05)  # Cf falls slowly with Reynolds number
    assert estimate_drag(gen("sedan chopped")).cd_base > estimate_drag(gen("sedan boattail")).cd_base
    assert estimate_drag(gen("sedan spoiler")).drag > estimate_drag(mesh).drag
    assert estimate_drag(gen("sedan skirted")).drag < estimate_drag(mesh).drag


def test_a_good_design_is_scored_with_metrics_and_drag_sources(gen):
    fb = evaluate_mesh(gen("sleek long teardrop low zebra"), "car", speed=30.0)
    assert not fb.failed and fb.score == pytest.approx(fb.metrics["drag"])
    assert {"cd", "frontal_area", "volume", "length", "cabin_height", "cabin_volume"} <= set(fb.metrics)
    assert "Drag sources:" in fb.text and "zebra" in fb.text and "are met" in fb.text


@pytest.mark.parametrize(
    ("prompt", "reason"),
    [
        ("very very long limousine", "length 5.8"),
        ("very very low flat", "cabin height"),
        ("tiny stubby pod", "below the car minimum"),
        ("huge massive bus", "volume"),
    ],
)
def test_out_of_class_designs_fail_with_the_reason(gen, prompt, reason):
    fb = evaluate_mesh(gen(prompt), "car")
    assert fb.failed and fb.score is None
    assert reason in fb.text and fb.details["violations"]
    assert fb.metrics["drag"] > 0  # the would-be drag is still there for the optimizer


def test_lifting_the_body_does_not_make_cabin_room(gen):
    base, lifted = estimate_drag(gen("low sedan")), estimate_drag(gen("low sedan lifted raised"))
    assert lifted.height == pytest.approx(base.height, abs=0.01)  # the roof stays where it was ...
    assert lifted.cabin_height < base.cabin_height - 0.1  # ... the floor rises with the body: less room


def test_a_van_class_accepts_what_a_car_class_rejects(gen):
    mesh = gen("huge massive bus")
    est = estimate_drag(mesh, vehicle_class=CLASSES["van"])
    assert violations(est, CLASSES["car"]) and not violations(est, CLASSES["van"])
    with pytest.raises(ConfigError, match="car"):
        resolve_class("spaceship")


def test_open_and_empty_meshes_fail(gen):
    mesh = gen("sedan")
    open_mesh = trimesh.Trimesh(mesh.vertices, mesh.faces[:-3], process=False)
    fb = evaluate_mesh(open_mesh)
    assert fb.failed and "not watertight" in fb.text
    flipped = trimesh.Trimesh(mesh.vertices, np.concatenate([mesh.faces[:10, ::-1], mesh.faces[10:]]), process=False)
    assert evaluate_mesh(flipped).failed
    assert "empty" in evaluate_mesh(trimesh.Trimesh()).text


def test_a_plain_cylinder_is_scored_like_any_mesh():
    est = estimate_drag(_x_cylinder(0.8, 4.5))
    assert est.frontal_area == pytest.approx(np.pi * 0.8**2, rel=0.01)
    assert est.cd_nose == pytest.approx(0.8, rel=0.01)  # flat face over the whole section
    assert est.protrusion_area < 0.02
