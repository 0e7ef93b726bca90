"""Imports point downward only (DESIGN.md, "Layers").

trace_core imports none of its siblings; optimizers and tasks import trace_core and
never each other; agents may import all. Every import counts: module level, inside
functions (lazy), under ``if TYPE_CHECKING``, and ``importlib.import_module("...")``
or ``__import__("...")`` with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trace_core", "optimizers", "tasks", "agents")
ALLOWED = {
    "trace_core": set(),
    "optimizers": {"trace_core"},
    "tasks": {"trace_core"},
    "agents": {"trace_core", "optimizers", "tasks"},
}


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in ``source``, which is the
    module ``module`` (dotted; a package's ``__init__`` is the package itself + ``.__init__``)."""
    found: list[tuple[int, str]] = []
    for item in ast.walk(ast.parse(source)):
        if isinstance(item, ast.Import):
            found += [(item.lineno, alias.name) for alias in item.names]
        elif isinstance(item, ast.ImportFrom):
            if item.level:
                base = module.split(".")[: -item.level]
                name = ".".join([*base, item.module] if item.module else base)
            else:
                name = item.module or ""
            found.append((item.lineno, name))
        elif isinstance(item, ast.Call) and item.args and isinstance(item.args[0], ast.Constant):
            func = item.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in ("import_module", "__import__") and isinstance(item.args[0].value, str):
                found.append((item.lineno, item.args[0].value))
    return found


def wrong_arrows(package: str, root: Path = ROOT) -> list[str]:
    problems = []
    forbidden = set(PACKAGES) - ALLOWED[package] - {package}
    for path in sorted((root / package).rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        for line, name in imported_modules(path.read_text(encoding="utf-8"), module):
            if name.split(".")[0] in forbidden:
                problems.append(f"{path.relative_to(root)}:{line} imports {name}")
    return problems


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_downward_only(package):
    assert any((ROOT / package).rglob("*.py")), f"{package} has no modules"
    problems = wrong_arrows(package)
    allowed = ", ".join(sorted(ALLOWED[package])) or "none of the other layers"
    assert not problems, f"{package} may import {allowed} (DESIGN.md, Layers):\n" + "\n".join(problems)


def test_the_walker_sees_lazy_relative_typing_and_dynamic_imports():
    source = '''
from typing import TYPE_CHECKING
import trace_core.node
if TYPE_CHECKING:
    from tasks.base import BaseTask
def later():
    import agents.loop as loop
    from .sibling import thing
    from .. import up
    importlib.import_module("optimizers.search")
    return __import__("json")
class K:
    def method(self):
        from optimizers import base
'''
    found = imported_modules(source, "tasks.hpo.task")
    assert sorted(found) == [
        (2, "typing"), (3, "trace_core.node"), (5, "tasks.base"), (7, "agents.loop"), (8, "tasks.hpo.sibling"),
        (9, "tasks"), (10, "optimizers.search"), (11, "json"), (14, "optimizers"),
    ]


def test_a_wrong_arrow_is_reported(tmp_path):
    fake = tmp_path / "optimizers"
    fake.mkdir()
    (fake / "__init__.py").write_text("from optimizers import base\nimport trace_core\n")
    (fake / "bad.py").write_text("def f():\n    from tasks.registry import build_task\n")
    assert wrong_arrows("optimizers", tmp_path) == ["optimizers/bad.py:2 imports tasks.registry"]
