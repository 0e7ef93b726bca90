"""The procedural text-to-3D generator: vocabulary, determinism, watertight meshes."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.design3d import VOCABULARY, ProceduralGenerator, ShapeParams, evaluate_mesh, parse_prompt
from tasks.design3d.generator import Generator, make_generator
from tasks.design3d.vocabulary import CATEGORIES, MODIFIERS, WORDS, word_effects
from trace_core.errors import ConfigError


@pytest.fixture(scope="module")
def gen() -> ProceduralGenerator:
    return ProceduralGenerator()


def test_same_prompt_and_seed_give_the_same_mesh_and_other_seeds_differ(gen):
    a, b = gen("sleek coupe with spoiler", seed=3), gen("sleek coupe with spoiler", seed=3)
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces)
    other = gen("sleek coupe with spoiler", seed=4)
    assert other.vertices.shape == a.vertices.shape
    assert not np.allclose(other.vertices, a.vertices)
    assert np.abs(other.vertices - a.vertices).max() < 0.5  # the seed jitters, it does not redesign


def test_different_prompts_give_measurably_different_meshes(gen):
    meshes = {p: gen(p) for p in ("sleek long teardrop low", "boxy tall short blunt", "suv", "racecar")}
    extents = np.array([m.extents for m in meshes.values()])
    volumes = [m.volume for m in meshes.values()]
    assert len({round(v, 2) for v in volumes}) == len(meshes)
    assert meshes["boxy tall short blunt"].extents[2] > meshes["sleek long teardrop low"].extents[2] + 0.3
    assert meshes["sleek long teardrop low"].extents[0] > meshes["boxy tall short blunt"].extents[0] + 0.5
    assert extents.std(axis=0).min() > 0.01


def test_every_vocabulary_word_builds_a_closed_outward_mesh(gen):
    for word in VOCABULARY:
        for prompt in (word, f"very {word}", f"boxy tall {word}"):
            mesh = gen(prompt)
            assert mesh.is_watertight and mesh.is_winding_consistent, prompt
            assert mesh.volume > 1.0, prompt
            assert mesh.bounds[0][2] >= -1e-9, prompt  # stands on the ground


def test_unknown_words_are_ignored_and_reported(gen):
    mesh = gen("a sleek zebra-striped car with lasers")
    info = mesh.metadata["design3d"]
    assert info["ignored"] == ["zebra", "striped", "lasers"]
    assert info["known"] == ["sleek"]
    plain = gen("sleek")
    assert np.allclose(mesh.vertices, plain.vertices)  # ignored words change nothing


def test_non_ascii_words_are_reported_whole_and_a_prompt_without_shape_words_says_so(gen):
    parsed = parse_prompt("très élégant 流線型 sleek")
    assert parsed.known == ("sleek",) and parsed.ignored == ("très", "élégant", "流線型")
    for prompt in ("", "zebra quantum"):
        fb = evaluate_mesh(gen(prompt))
        assert not fb.failed and "no shape word the generator knows" in fb.text
    assert "no shape word" not in evaluate_mesh(gen("sleek")).text


def test_negative_seeds_are_seeds_too(gen):
    a, b = gen("sleek", -1), gen("sleek", -1)
    assert np.array_equal(a.vertices, b.vertices) and not np.array_equal(a.vertices, gen("sleek", 1).vertices)


def test_modifiers_scale_and_negate_the_next_word():
    base = ShapeParams()
    long_ = parse_prompt("long").params.length - base.length
    very = parse_prompt("very long").params.length - base.length
    slightly = parse_prompt("slightly long").params.length - base.length
    assert very == pytest.approx(MODIFIERS["very"] * long_)
    assert slightly == pytest.approx(0.5 * long_)
    assert parse_prompt("no spoiler").params.spoiler == 0.0
    assert parse_prompt("spoiler").params.spoiler > 0.5
    assert parse_prompt("low-slung").known == ("low-slung",)
    assert parse_prompt("wheels, Wheels!").ignored == ()


def test_knobs_are_clipped_and_words_are_well_formed():
    params = parse_prompt(" ".join(["long"] * 20)).params
    assert params.length == 1.0
    assert set(WORDS) == {w for table in CATEGORIES.values() for w in table}
    with pytest.raises(ValueError, match="knob"):
        word_effects("wingspan+.2")


def test_generators_by_name():
    assert isinstance(make_generator("procedural", jitter=0.0), Generator)
    with pytest.raises(ConfigError, match="procedural"):
        make_generator("dreamfusion")


def test_importing_the_package_loads_no_heavy_modules():
    import subprocess
    import sys

    code = "import sys, tasks.design3d as d; print(sorted({'trimesh', 'matplotlib', 'shapely'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
