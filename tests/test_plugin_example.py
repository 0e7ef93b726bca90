"""The example plugin in examples/plugin: its optimizer and task are found through their
entry points (a distribution on sys.path stands in for ``pip install``), pass the shipped
contract suites, and run, resume and validate by name like the built-in ones."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agents import RunStore, optimize
from agents.jobs import JobError, parse_job
from agents.loop import open_run
from optimizers.registry import OPTIMIZERS, optimizer_class, optimizer_names
from optimizers.testing import OptimizerContract
from tasks.registry import TASKS, build_task, task_names
from tasks.testing import TaskContract
from tests._dists import fake_distribution
from trace_core import Budget, Parameter

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "plugin"


@pytest.fixture
def installed(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The plugin as if installed: its source and a dist-info with its entry points on sys.path."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    site = tmp_path_factory.mktemp("site")
    fake_distribution(site, project["name"], project["entry-points"], project["version"])
    monkeypatch.syspath_prepend(str(PLUGIN / "src"))
    monkeypatch.syspath_prepend(str(site))
    for registry in (OPTIMIZERS, TASKS):
        registry.refresh()
    yield
    for registry in (OPTIMIZERS, TASKS):
        registry.refresh()
    for name in [m for m in sys.modules if m.startswith("tracetune_hill")]:
        del sys.modules[name]


def test_the_names_are_listed_without_importing_the_plugin(installed: None) -> None:
    assert "hill" in optimizer_names() and "line_fit" in task_names()
    assert not [m for m in sys.modules if m.startswith("tracetune_hill")]


@pytest.mark.usefixtures("installed")
class TestHillClimbByName(OptimizerContract):
    def make_optimizer(self, parameters: Sequence[Parameter]) -> Any:
        return optimizer_class("hill")(parameters, seed=0)


@pytest.mark.usefixtures("installed")
class TestLineFitByName(TaskContract):
    def make_task(self) -> Any:
        return build_task("line_fit", points=4)


def test_a_run_by_names_improves_and_resumes_with_the_same_optimizer(installed: None) -> None:
    store = RunStore("sqlite://")
    result = optimize(build_task("line_fit", points=6), optimizer="hill", budget=Budget(max_steps=12), k=2,
                      store=store, executor="serial")
    assert result.best_score < result.initial_score
    run = open_run(result.run_id, store=store)  # task and optimizer rebuilt from their stored names
    try:
        assert type(run.opt).__name__ == "HillClimb" and type(run.task).__name__ == "LineFitTask"
        assert run.opt.proposals == 12
    finally:
        run.close()


def test_a_job_file_names_them_and_their_options_are_checked(installed: None) -> None:
    job = parse_job({"name": "fit", "task": {"name": "line_fit", "options": {"points": 4}},
                     "optimizer": {"name": "hill", "options": {"step": 0.3}}})
    assert job.optimizer.name == "hill" and job.task.name == "line_fit"
    with pytest.raises(JobError, match=r"optimizer.options.stepz: not an option of the hill optimizer; accepted: "):
        parse_job({"name": "fit", "task": {"name": "line_fit"}, "optimizer": {"name": "hill", "options": {"stepz": 1}}})


def test_the_plugins_own_tests_pass() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(PLUGIN / "src")])}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                          "--rootdir", str(PLUGIN), str(PLUGIN / "tests")], cwd=PLUGIN, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "12 passed" in out.stdout


def test_the_cli_lists_the_task_and_names_a_broken_entry_point(tmp_path: Path) -> None:
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {**project["entry-points"], "tracetune.optimizers": {"bad": "tracetune_hill.nope:Missing"}}
    fake_distribution(tmp_path / "site", project["name"], groups, project["version"])
    job = tmp_path / "fit.toml"
    job.write_text('name = "fit"\noptimizer = "bad"\n[task]\nname = "line_fit"\n[budget]\nmax_steps = 2\n',
                   encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path / "site"), str(PLUGIN / "src")])}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agents.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    listed = cli("tasks", "line_fit")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "line_fit (minimize)" in listed.stdout and "slope" in listed.stdout
    broken = cli("run", str(job), "--store", f"sqlite:///{tmp_path / 'runs.db'}")
    assert broken.returncode != 0 and "Traceback" not in broken.stdout + broken.stderr
    assert ("the optimizer 'bad' (entry point 'bad = tracetune_hill.nope:Missing' of distribution 'tracetune-hill'"
            in broken.stdout + broken.stderr)
