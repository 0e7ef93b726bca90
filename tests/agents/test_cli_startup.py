"""``tracetune`` starts without loading what a command does not use (torch, litellm,
scikit-learn, optuna ...), and the packages that load their names on first use keep
every public name. What is loaded is checked in a fresh interpreter; how long it takes
is measured by ``benchmarks/cli_bench.py``, never here."""

from __future__ import annotations

import doctest
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tasks.examples.numeric import NumericTask
from tasks.registry import task_class, task_names, task_summary
from trace_core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "litellm", "sklearn", "optuna", "numpy", "sqlalchemy", "networkx", "langgraph", "trimesh")


def loaded_after(code: str, tmp_path: Path) -> list[str]:
    """The HEAVY modules a fresh interpreter has loaded after running ``code``."""
    report = f"import json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    script = textwrap.dedent(code) + "\n" + report
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETUNE_")} | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def cli(*args: str) -> str:
    return f"""
from agents.cli import app
try:
    app({list(args)!r}, prog_name="tracetune")
except SystemExit as e:
    assert e.code == 0, e.code
"""


def test_importing_the_cli_loads_none_of_the_heavy_libraries(tmp_path: Path) -> None:
    assert loaded_after("import agents.cli", tmp_path) == []


def test_help_and_the_task_list_load_no_heavy_library(tmp_path: Path) -> None:
    assert loaded_after(cli("--help"), tmp_path) == []
    assert loaded_after(cli("run", "--help"), tmp_path) == []
    assert loaded_after(cli("tasks"), tmp_path) == []  # read from the tasks' source, nothing imported


def test_listing_runs_loads_no_model_or_llm_library(tmp_path: Path) -> None:
    loaded = loaded_after(cli("list", "--store", str(tmp_path / "runs.db")), tmp_path)
    assert "sqlalchemy" in loaded  # the store is read
    assert not {"torch", "litellm", "sklearn", "networkx", "langgraph", "trimesh"} & set(loaded)


def test_importing_the_packages_loads_nothing_heavy_until_a_name_is_read(tmp_path: Path) -> None:
    assert loaded_after("import agents, trace_core, trace_core.llm, tasks", tmp_path) == []
    assert "litellm" not in loaded_after("from trace_core.llm import ScriptedLLM, wrap", tmp_path)


@pytest.mark.parametrize("package", ["trace_core", "trace_core.llm", "agents"])
def test_every_public_name_of_a_lazy_package_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
        assert name in dir(module)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


def test_a_function_named_like_its_module_stays_the_function(tmp_path: Path) -> None:
    """``trace_core.node`` is the function ``node`` (as with an eager ``__init__``), whether
    its module was imported before the name was read or after."""
    code = """
        import trace_core.node, trace_core.bundle
        import trace_core, trace_core.llm
        from trace_core import backward, bundle, node
        import trace_core.llm.wrap
        assert callable(node) and node is trace_core.node and node.__module__ == "trace_core.node"
        assert bundle is trace_core.bundle and backward is trace_core.backward
        assert trace_core.llm.wrap.__name__ == "wrap" and callable(trace_core.llm.wrap)
        assert trace_core.graph.__name__ == "trace_core.graph"
    """
    assert "networkx" in loaded_after(code, tmp_path)  # trace_core.graph was read


def test_each_task_summary_is_what_its_class_says() -> None:
    for name in task_names():
        cls = task_class(name)
        summary = task_summary(name)
        assert summary["direction"] == cls.direction
        if "description" in vars(cls):
            assert summary["description"] == cls.description
        else:  # set when the task is built: the docstring's first paragraph stands in
            assert summary["description"] == " ".join(cls.__doc__.split("\n\n")[0].split())


def test_a_task_whose_source_does_not_say_its_direction_is_imported_to_read_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_tasks.py").write_text(textwrap.dedent('''
        from tasks.examples.numeric import NumericTask

        class Shifted(NumericTask):
            """A numeric task, shifted.

            More words."""

        def make():
            return Shifted()
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    from tasks.registry import TASKS

    monkeypatch.setattr(TASKS, "targets", {**TASKS.targets, "shifted": "my_tasks:Shifted", "made": "my_tasks:make",
                                           "gone": "no_such_module_here:Task"})
    inherited = {"name": "shifted", "direction": "minimize", "description": NumericTask.description}
    assert task_summary("shifted") == inherited
    assert task_summary("made") == {**inherited, "name": "made"}  # a factory: called with its defaults
    with pytest.raises(ConfigError, match="cannot import 'no_such_module_here'"):
        task_summary("gone")


@pytest.mark.parametrize("name", ["trace_core._lazy", "agents._report_text", "agents._job_checks", "tasks.registry"])
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
