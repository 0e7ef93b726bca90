"""Registries: built-in names, registered names and entry points, imported only when used;
unknown names and broken entry points are ConfigErrors that say what to do."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests._dists import fake_distribution
from trace_core.errors import ConfigError
from trace_core.registry import Registry, load_target

GROUP = "tracetune.test_shapes"


@pytest.fixture
def shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A registry whose group has entry points from a distribution "shapes-plugin"."""
    (tmp_path / "shapes_plugin_mod.py").write_text(
        "class Circle:\n    sides = 0\n\nclass Blob:\n    def __init__(self, size):\n        raise ValueError('no blobs')\n\n"
        "SIDES = 3\n", encoding="utf-8")
    (tmp_path / "shapes_broken_mod.py").write_text("raise RuntimeError('the plugin is broken')\n", encoding="utf-8")
    (tmp_path / "shapes_script_mod.py").write_text("import sys\nsys.exit(3)\n", encoding="utf-8")
    fake_distribution(tmp_path, "shapes-plugin", {GROUP: {
        "circle": "shapes_plugin_mod:Circle",
        "broken": "shapes_broken_mod:Thing",
        "missing": "shapes_plugin_mod:Square",
        "path": "shapes_plugin_mod:Circle",  # shadowed by the built-in of that name
        "script": "shapes_script_mod:Thing",
        "blob": "shapes_plugin_mod:Blob",
        "sides": "shapes_plugin_mod:SIDES",
    }})
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in ("shapes_plugin_mod", "shapes_broken_mod", "shapes_script_mod"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    return Registry("shape", GROUP, {"path": "pathlib:PurePosixPath"})


def test_names_list_entry_points_without_importing_them(shapes: Registry) -> None:
    assert shapes.names() == ["blob", "broken", "circle", "missing", "path", "script", "sides"]
    assert "circle" in shapes and "square" not in shapes
    assert shapes.target("circle") == "shapes_plugin_mod:Circle"
    assert "shapes_plugin_mod" not in sys.modules and "shapes_broken_mod" not in sys.modules


def test_an_entry_point_loads_and_a_builtin_wins_over_one_of_its_name(shapes: Registry) -> None:
    assert shapes.load("circle").sides == 0
    assert shapes.load("path").__name__ == "PurePosixPath"


@pytest.mark.parametrize("name, why", [("broken", "RuntimeError: the plugin is broken"),
                                       ("missing", "AttributeError"),
                                       ("script", "importing 'shapes_script_mod' called sys.exit(3)")])
def test_a_broken_entry_point_names_itself_and_its_distribution(shapes: Registry, name: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        shapes.load(name)
    text = str(info.value)
    assert f"the shape {name!r}" in text and "distribution 'shapes-plugin'" in text and GROUP in text
    assert why in text and "fix or uninstall that package" in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_an_unknown_name_lists_the_known_ones(shapes: Registry) -> None:
    with pytest.raises(ConfigError, match=r"unknown shape 'square'; registered shapes: blob, broken, circle"):
        shapes.load("square")
    with pytest.raises(ConfigError, match="unknown shape 'square'"):
        shapes.target("square")


def test_register_checks_the_target_and_imports_nothing() -> None:
    reg = Registry("shape", GROUP + ".none", {})
    with pytest.raises(ConfigError, match="package.module:Name"):
        reg.register("bad", "no_colon_here")
    reg.register("lazy", "not_a_module_anywhere:Thing")
    assert reg.names() == ["lazy"]
    with pytest.raises(ConfigError, match="cannot import 'not_a_module_anywhere'"):
        reg.load("lazy")


def test_refresh_reads_newly_installed_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = Registry("shape", GROUP + ".late", {})
    assert reg.names() == []
    fake_distribution(tmp_path, "late-plugin", {GROUP + ".late": {"late": "json:dumps"}})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert reg.names() == []  # read once
    reg.refresh()
    assert reg.names() == ["late"] and reg.load("late")([1]) == "[1]"


def test_load_target_errors() -> None:
    with pytest.raises(ConfigError, match="module:attribute"):
        load_target("json")
    with pytest.raises(ConfigError, match="has no attribute 'nope'"):
        load_target("json:nope")


def test_build_names_a_plugin_that_raises_or_is_not_callable(shapes: Registry) -> None:
    assert shapes.build("circle").sides == 0
    with pytest.raises(ConfigError, match=r"the shape 'blob' \(shapes_plugin_mod:Blob\) could not be built: "
                                          r"ValueError: no blobs"):
        shapes.build("blob", 2)
    with pytest.raises(ConfigError, match=r"the shape 'sides' .* is not a class or function \(its type is int\)"):
        shapes.build("sides")


def test_a_module_that_exits_on_import_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "exits_on_import.py").write_text("import sys\nsys.exit(0)\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "exits_on_import", raising=False)
    with pytest.raises(ConfigError, match=r"importing 'exits_on_import' called sys.exit\(0\).*__main__"):
        load_target("exits_on_import:main")
