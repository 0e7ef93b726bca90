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


# -- import cycles -----------------------------------------------------------------------------------------------


def _modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _import_time(tree: ast.Module, *, lazy: bool = False) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: module level, inside ``if``/``try``/
    ``with``/classes, not under ``if TYPE_CHECKING`` (type checkers only) and, unless
    ``lazy``, not inside functions. With ``lazy``, also those a function runs when called."""
    out: list[ast.Import | ast.ImportFrom] = []

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                out.append(stmt)
            elif isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
                visit(stmt.orelse)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and not lazy:
                continue
            else:
                for child in ast.iter_child_nodes(stmt):
                    if isinstance(child, ast.stmt):
                        visit([child])
                    elif isinstance(child, (ast.excepthandler, ast.match_case)):
                        visit(child.body)

    visit(tree.body)
    return out


def import_graph(root: Path = ROOT, *, lazy: bool = False) -> dict[str, set[str]]:
    """Module -> project modules it imports at import time, and with ``lazy`` also inside
    functions (a submodule importing its own package is not an edge: Python has the
    package half-made by then)."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for stmt in _import_time(ast.parse(path.read_text(encoding="utf-8")), lazy=lazy):
            if isinstance(stmt, ast.Import):
                names = [alias.name for alias in stmt.names]
            else:
                base = stmt.module or ""
                if stmt.level:
                    parts = module.split(".") if is_package else module.split(".")[:-1]
                    base = ".".join(parts[: len(parts) - stmt.level + 1] + ([stmt.module] if stmt.module else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in stmt.names]
            for name in names:
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != module and not module.startswith(name + "."):
                    graph[module].add(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "modules that import each other at import time (move the shared part down):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_no_import_cycles_through_imports_inside_functions_either():
    """A function-level import that closes a loop only hides a cycle: the two modules
    still need each other (move the shared part down, or pass it in)."""
    found = cycles(import_graph(lazy=True))
    assert not found, "modules that import each other (one of them inside a function):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_the_lazy_cycle_finder_sees_function_level_imports_but_not_type_checking_ones(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    pkg = tmp_path / "agents"
    (pkg / "report.py").write_text("def html():\n    from agents import _html\n")
    (pkg / "_html.py").write_text("import json\nfrom agents.report import when\n")
    (pkg / "store.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import agents.jobs\n")
    (pkg / "jobs.py").write_text("class Job:\n    def store(self):\n        with open('x'):\n"
                                 "            import agents.store\n")
    assert cycles(import_graph(tmp_path)) == []
    assert cycles(import_graph(tmp_path, lazy=True)) == [["agents._html", "agents.report"]]


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    pkg = tmp_path / "agents"
    pkg.mkdir()
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from agents import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import agents.c\nimport agents.a\n")
    (pkg / "c.py").write_text("def later():\n    import agents.b\n")
    assert cycles(import_graph(tmp_path)) == [["agents.a", "agents.b"]]


# -- one writer of a parameter's value ------------------------------------------------------------------------------


def value_writes(source: str) -> list[int]:
    """Lines that assign ``<anything>._value`` (also through ``setattr``)."""
    lines = []
    for item in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(item, ast.Assign):
            targets = item.targets
        elif isinstance(item, (ast.AugAssign, ast.AnnAssign)):
            targets = [item.target]
        elif isinstance(item, ast.Call) and getattr(item.func, "id", getattr(item.func, "attr", "")) in (
                "setattr", "__setattr__") and any(isinstance(a, ast.Constant) and a.value == "_value" for a in item.args):
            lines.append(item.lineno)
        flat = [e for t in targets for e in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t])]
        lines += [t.lineno for t in flat if isinstance(t, ast.Attribute) and t.attr == "_value"]
    return lines


def test_only_parameter_writes_a_value():
    owner = ROOT / "trace_core" / "node.py"
    problems = [f"{path.relative_to(ROOT)}:{line}" for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
                if path != owner for line in value_writes(path.read_text(encoding="utf-8"))]
    assert not problems, "only trace_core/node.py writes a value; call Parameter.write (trusted) or set:\n" + \
        "\n".join(problems)


def test_the_value_write_finder_sees_assignments_and_setattr():
    source = "p._value = 1\nx, q._value = 1, 2\nsetattr(p, '_value', 3)\ny = p._value\np.value = 4\n"
    assert value_writes(source) == [1, 2, 3]


# -- module size ----------------------------------------------------------------------------------------------------

MAX_LINES = 400
WHY = "# longer than 400 lines because"


def code_lines(source: str) -> int:
    """Lines of code: not blank, not only a comment, not part of a docstring (STYLE.md's measure)."""
    import io
    import tokenize

    tree = ast.parse(source)
    docs: set[int] = set()
    for item in ast.walk(tree):
        if isinstance(item, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and item.body:
            first = item.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docs.update(range(first.lineno, first.end_lineno + 1))
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - docs)


def test_no_module_over_400_lines_of_code_without_saying_why():
    long = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            n = code_lines(source)
            if n > MAX_LINES and WHY not in source:
                long.append(f"{path.relative_to(ROOT)}: {n} lines of code")
    assert not long, (f"modules past {MAX_LINES} lines of code hold two ideas: split them, or say why not in a "
                      f"comment starting {WHY!r}:\n" + "\n".join(long))


def test_code_lines_leave_out_docstrings_comments_and_blanks():
    source = '"""Doc.\n\nMore."""\n\n# a comment\nx = 1\n\n\ndef f():\n    """Doc."""\n    return (1,\n            2)\n'
    assert code_lines(source) == 4
