"""Installed plugins that fail in `tracetune run`: a clear error and exit 2, never a traceback."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents import RunStore
from agents.executors import EXECUTORS
from optimizers.registry import OPTIMIZERS
from tests._dists import fake_distribution
from tests.agents.test_cli import invoke

PLUGIN = """
    from optimizers.search import Search

    class Explodes:
        def __init__(self, parameters, **options):
            raise RuntimeError("init exploded")

    class Climb(Search):
        pass

    class BadExecutor:
        def __init__(self, task, **kw):
            raise OSError("no cluster here")
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / "cli_plugin_mod.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    (tmp_path / "cli_plugin_script.py").write_text("import sys\nsys.exit(3)\n", encoding="utf-8")
    fake_distribution(tmp_path, "cli-plugin", {
        "tracetune.optimizers": {"explodes": "cli_plugin_mod:Explodes", "Climb": "cli_plugin_mod:Climb",
                                 "script": "cli_plugin_script:Thing"},
        "tracetune.executors": {"bad": "cli_plugin_mod:BadExecutor"}})
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in ("cli_plugin_mod", "cli_plugin_script"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    OPTIMIZERS.refresh()
    EXECUTORS.refresh()
    yield
    OPTIMIZERS.refresh()
    EXECUTORS.refresh()


def _job(folder: Path, optimizer: str, executor: str = "serial") -> Path:
    path = folder / f"{optimizer.lower()}-{executor}.toml"
    path.write_text(textwrap.dedent(f"""
        name = "plugged"
        executor = "{executor}"
        [task]
        name = "numeric"
        [optimizer]
        name = "{optimizer}"
        [budget]
        max_steps = 1
        """), encoding="utf-8")
    return path


@pytest.mark.parametrize("optimizer, executor, said", [
    ("explodes", "serial", "the optimizer 'explodes' (cli_plugin_mod:Explodes) could not be built: "
                           "RuntimeError: init exploded"),
    ("search", "bad", "the executor 'bad' (cli_plugin_mod:BadExecutor) could not be built: OSError: no cluster here"),
    ("script", "serial", "importing 'cli_plugin_script' called sys.exit(3)"),
])
def test_a_plugin_that_fails_as_it_is_built_is_exit_2_and_stores_nothing(
        plugins: None, tmp_path: Path, optimizer: str, executor: str, said: str) -> None:
    db = tmp_path / "runs.db"
    result = invoke("run", _job(tmp_path, optimizer, executor), "--store", db, "--no-report")
    assert result.exit_code == 2, result.output
    assert said in result.stderr and "Traceback" not in result.output
    assert RunStore(db).list_runs() == []


def test_an_entry_point_named_in_capitals_is_found_by_its_own_name(plugins: None, tmp_path: Path) -> None:
    result = invoke("run", _job(tmp_path, "Climb"), "--store", tmp_path / "runs.db", "--no-report")
    assert result.exit_code == 0, result.output


def test_a_job_optimizer_that_is_not_a_class_says_so(tmp_path: Path) -> None:
    result = invoke("run", _job(tmp_path, "json:__doc__"), "--store", tmp_path / "runs.db", "--no-report")
    assert result.exit_code == 2
    assert "optimizer 'json:__doc__' is not a class or function (its type is str)" in result.stderr
