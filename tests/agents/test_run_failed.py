"""Failed runs say so: a run whose first evaluated candidate fails on every example raises
:class:`RunFailed` (exit 1 in the CLI) and is stored as failed; a run whose later
candidates all fail finishes, but every summary shows the failure counts and the first
error (type, message and the frame of the user's code). The reproducers are the ones a
user ran into: a workflow that compares the whole example ``(0.1, 0)`` with a float."""

from __future__ import annotations

import json
import logging
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agents import RunStore, optimize
from agents._failures import failure_counts, user_frame
from agents.cli import app
from agents.report import RunReport
from trace_core import Budget, Module, Parameter, RunFailed, TraceTuneError, bundle
from trace_core.spaces import Float

TUPLE_ERROR = "TypeError: '>' not supported between instances of 'tuple' and 'float'"


class MyModule(Module):
    def __init__(self) -> None:
        super().__init__()
        self.threshold = Parameter(0.5, name="threshold", space=Float(0.0, 1.0))

    @bundle
    def forward(self, x):  # gets the whole example (0.1, 0), not x
        return 1 if x > self.threshold.value else 0


class PickyModule(Module):
    """Works with its starting value only: every other value raises."""

    def __init__(self) -> None:
        super().__init__()
        self.threshold = Parameter(0.5, name="threshold", space=Float(0.0, 1.0))

    @bundle
    def forward(self, example):
        if self.threshold.value != 0.5:
            raise ValueError(f"threshold {self.threshold.value} is not supported")
        return 1 if example[0] > self.threshold.value else 0


def fn(example: Any, output: Any) -> float:
    return float(output == example[1])


TRAIN = [(0.1, 0), (0.9, 1), (0.4, 0)]


def test_every_example_of_the_start_failing_raises_run_failed(tmp_path: Path, caplog: Any) -> None:
    store = RunStore(tmp_path / "runs.db")
    with caplog.at_level(logging.WARNING, logger="agents.loop"), pytest.raises(RunFailed) as info:
        optimize(MyModule(), feedback=fn, train=TRAIN, optimizer="search", budget=Budget(max_steps=3), store=store)
    e = info.value
    assert isinstance(e, TraceTuneError)
    assert TUPLE_ERROR in str(e) and "starting values" in str(e) and __file__ in str(e)
    assert e.first_error["type"] == "TypeError" and e.first_error["step"] == 0
    assert e.first_error["frame"].startswith(f"{__file__}, line ") and "in forward" in e.first_error["frame"]
    assert "return 1 if x > self.threshold.value else 0" in e.first_error["frame"]
    run = store.get_run(e.run_id)
    assert run["status"] == "failed" and run["stop_reason"] == "every example of the starting values failed (RunFailed)"
    assert run["config"]["first_error"]["message"] == TUPLE_ERROR.split(": ", 1)[1]
    assert len(store.steps(e.run_id)) == 1  # nothing ran after the start
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "agents.loop"]
    assert len(warnings) == 1 and "Traceback (most recent call last)" in warnings[0].getMessage()
    summary = RunReport.load(store, e.run_id).summary()
    assert f"first error (step 0): {TUPLE_ERROR}" in summary
    assert "failures: 1 of 1 evaluations (failed 1)" in summary


def test_without_scoring_the_start_the_first_proposals_failing_raise(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(RunFailed, match="the first candidates") as info:
        optimize(MyModule(), feedback=fn, train=TRAIN, optimizer="search", budget=Budget(max_steps=3), k=2,
                 store=store, evaluate_start=False)
    assert info.value.first_error["step"] == 1
    assert store.get_run(info.value.run_id)["status"] == "failed"
    assert len(store.steps(info.value.run_id)) == 2


def test_later_failures_finish_the_run_but_are_counted_and_shown(tmp_path: Path, caplog: Any) -> None:
    store = RunStore(tmp_path / "runs.db")
    with caplog.at_level(logging.WARNING, logger="agents.loop"):
        result = optimize(PickyModule(), feedback=fn, train=TRAIN, optimizer="search", budget=Budget(max_steps=3),
                          store=store)
    assert result.initial_score == 1.0 and result.stop_reason == "budget max_steps reached"
    assert result.outcomes == {"done": 1, "failed": 3} and result.failures == {"failed": 3}
    assert result.first_error["type"] == "ValueError" and result.first_error["step"] == 1
    assert "is not supported" in result.first_error["message"] and "in forward" in result.first_error["frame"]
    assert len([r for r in caplog.records if r.name == "agents.loop" and r.levelno == logging.WARNING]) == 1
    assert store.get_run(result.run_id)["status"] == "finished"
    summary = RunReport.load(store, result.run_id).summary()
    assert "failures: 3 of 4 evaluations (failed 3)" in summary and "first error (step 1): ValueError" in summary


def test_a_run_without_failures_says_so(tmp_path: Path) -> None:
    from tasks.examples.numeric import NumericTask

    result = optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=2), store=tmp_path / "r.db")
    assert result.first_error is None and result.failures == {}
    summary = RunReport.load(tmp_path / "r.db", result.run_id).summary()
    assert "failures: 0 of 3 evaluations" in summary and "first error" not in summary


def test_the_users_frame_is_the_last_frame_outside_the_library() -> None:
    import trace_core

    lib = Path(trace_core.__file__).parent / "bundle.py"
    tb = textwrap.dedent(f"""\
        Traceback (most recent call last):
          File "{lib}", line 266, in _run
            return _call(fn, args, kwargs)
          File "/home/me/flow.py", line 14, in forward
            return helper(x)
                   ^^^^^^^^^
          File "/home/me/helpers.py", line 3, in helper
            return x > 0.5
          File "{lib}", line 90, in call
            out = fn(*args)
        TypeError: bad
        """)
    assert user_frame(tb) == "/home/me/helpers.py, line 3, in helper: return x > 0.5"
    assert user_frame("") == ""
    assert failure_counts({"done": 2}, {}) == "failures: 0 of 2 evaluations"


# -- the CLI ---------------------------------------------------------------------------------
MODULE = """
    from trace_core import Module, Parameter, bundle
    from trace_core.spaces import Float


    class MyModule(Module):
        def __init__(self):
            super().__init__()
            self.threshold = Parameter(0.5, name="threshold", space=Float(0.0, 1.0))

        @bundle
        def forward(self, example):
            x = tuple(example)  # a TOML example arrives as a list
            return 1 if x > self.threshold.value else 0


    class PickyModule(MyModule):
        @bundle
        def forward(self, example):
            if self.threshold.value != 0.5:
                raise ValueError("threshold is not supported")
            return 1 if example[0] > self.threshold.value else 0


    def feedback(example, output):
        return float(output == example[1])
    """


def job(folder: Path, workflow: str) -> tuple[Path, Path]:
    module = f"wf_{uuid.uuid4().hex[:8]}"
    source = folder / f"{module}.py"
    source.write_text(textwrap.dedent(MODULE), encoding="utf-8")
    path = folder / "job.toml"
    path.write_text(textwrap.dedent(f"""
        name = "broken"
        [task]
        workflow = "{module}:{workflow}"
        feedback = "{module}:feedback"
        train = [[0.1, 0], [0.9, 1]]
        [optimizer]
        name = "search"
        [budget]
        max_evaluations = 4
        """), encoding="utf-8")
    return path, source


def cli(*args: Any) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output + result.stderr
    return result


def test_cli_exits_1_with_the_error_and_the_users_frame(tmp_path: Path) -> None:
    path, source = job(tmp_path, "MyModule")
    db, html = tmp_path / "runs.db", tmp_path / "report.html"
    result = cli("run", path, "--store", db, "--report", html)
    assert result.exit_code == 1, result.output + result.stderr
    assert TUPLE_ERROR in result.stderr and f"{source}, line 14, in forward" in result.stderr
    assert "finished" not in result.stdout and "first error (step 0): " + TUPLE_ERROR in result.stdout
    (run,) = RunStore(db).list_runs()
    assert run["status"] == "failed"
    shown = cli("show", run["id"], "--store", db)
    assert TUPLE_ERROR in " ".join(shown.stdout.split()) and "1 of 1 evaluations" in shown.stdout
    data = json.loads(CliRunner().invoke(app, ["show", run["id"], "--store", str(db), "--json"]).stdout)
    assert data["first_error"]["type"] == "TypeError" and data["first_error"]["frame"].startswith(str(source))
    assert data["outcomes"] == {"failed": 1} and "Traceback" in data["first_error"]["traceback"]  # as data
    page = html.read_text(encoding="utf-8")
    assert "first error" in page and "not supported between instances of" in page


def test_cli_later_failures_exit_0_and_show_counts_and_the_first_error(tmp_path: Path) -> None:
    path, source = job(tmp_path, "PickyModule")
    db = tmp_path / "runs.db"
    result = cli("run", path, "--store", db, "--no-report")
    assert result.exit_code == 0, result.output + result.stderr
    assert "failures: 3 of 4 evaluations (failed 3)" in result.stdout
    assert "first error (step 1): ValueError: threshold is not supported" in result.stdout
    assert f"{source}, line " in result.stdout
    (run,) = RunStore(db).list_runs()
    shown = cli("show", run["id"], "--store", db)
    assert "3 of 4 evaluations" in shown.stdout and "ValueError" in shown.stdout
