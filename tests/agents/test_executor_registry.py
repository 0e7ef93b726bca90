"""Executors by name, with third-party ones from the ``tracetune.executors`` entry point group."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents import RunStore, optimize
from agents.executors import EXECUTORS, SerialExecutor, get_executor
from agents.jobs import JobError, parse_job
from tasks.examples.numeric import NumericTask
from tests._dists import fake_distribution
from trace_core import Budget
from trace_core.errors import ConfigError


@pytest.fixture
def inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / "inline_executor_mod.py").write_text(textwrap.dedent("""
        from agents.executors import SerialExecutor

        class InlineExecutor(SerialExecutor):
            name = "inline"
            used = 0

            def evaluate(self, jobs):
                type(self).used += len(jobs)
                return super().evaluate(jobs)
        """), encoding="utf-8")
    entry_points = {"tracetune.executors": {"inline": "inline_executor_mod:InlineExecutor"}}
    fake_distribution(tmp_path, "inline-executor", entry_points)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "inline_executor_mod", raising=False)
    EXECUTORS.refresh()
    yield
    EXECUTORS.refresh()


def test_an_installed_executor_is_found_by_name_and_runs_a_run(inline: None) -> None:
    assert "inline" in EXECUTORS.names() and {"serial", "thread", "process", "ray"} <= set(EXECUTORS.names())
    ex = get_executor("inline", NumericTask())
    assert isinstance(ex, SerialExecutor) and type(ex).__name__ == "InlineExecutor"
    result = optimize(NumericTask(), optimizer="search:random", budget=Budget(max_steps=2), store=RunStore("sqlite://"),
                      executor="inline")
    assert type(ex).used == 3 and result.stop_reason == "budget max_steps reached"


def test_a_job_file_may_name_an_installed_executor(inline: None) -> None:
    job = parse_job({"name": "x", "task": {"name": "numeric"}, "executor": "inline"})
    assert job.executor == "inline"
    with pytest.raises(JobError, match="executor = 'gpu': use one of inline, process, ray, serial, thread"):
        parse_job({"name": "x", "task": {"name": "numeric"}, "executor": "gpu"})


def test_an_unknown_executor_lists_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match="unknown executor 'gpu'; registered executors: process, ray, serial, thread"):
        get_executor("gpu", NumericTask())
