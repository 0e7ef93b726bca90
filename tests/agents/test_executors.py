"""The executor contract: every executor returns one result per job, in order; a
crash or a timeout is a failed Feedback, never an exception."""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import pytest

from agents.executors import Job, ProcessExecutor, get_executor
from tasks.examples.numeric import NumericTask
from trace_core.errors import ConfigError

KINDS = ["serial", "thread", "process",
         pytest.param("ray", marks=[pytest.mark.ray, pytest.mark.skipif(
             importlib.util.find_spec("ray") is None, reason="ray is an optional extra (tracetune[ray])")])]


@pytest.fixture(params=KINDS)
def executor(request: Any) -> Any:
    ex = get_executor(request.param, NumericTask(), workers=2, timeout=20)
    yield ex
    ex.close()


def test_results_in_order(executor: Any) -> None:
    jobs = [Job({"x": float(i), "y": -1.5}, [None]) for i in range(5)]
    results = executor.evaluate(jobs)
    assert [r.feedback.score for r in results] == pytest.approx([(i - 3.0) ** 2 for i in range(5)])
    assert all(r.status == "done" for r in results)


def test_bad_values_become_failed_feedback(executor: Any) -> None:
    results = executor.evaluate([Job({"x": "not a number", "y": 0.0}, [None]), Job({"x": 3.0, "y": -1.5}, [None])])
    assert results[0].feedback.failed and "TypeError" in results[0].feedback.text
    assert results[1].feedback.score == pytest.approx(0.0)


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_timeout_is_a_failed_evaluation(kind: str) -> None:
    with get_executor(kind, NumericTask(delay=3.0), workers=1, timeout=0.5) as ex:
        (r,) = ex.evaluate([Job({"x": 0.0, "y": 0.0}, [None])])
    assert r.status == "timeout" and r.feedback.failed and "timed out" in r.feedback.text


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_the_timeout_is_per_evaluation_not_per_batch(kind: str) -> None:
    # five 0.2 s evaluations on one worker take 1 s in all; each is well within 0.8 s
    with get_executor(kind, NumericTask(delay=0.2), workers=1, timeout=0.8) as ex:
        results = ex.evaluate([Job({"x": float(i), "y": -1.5}, [None]) for i in range(5)])
    assert [r.status for r in results] == ["done"] * 5
    assert [r.feedback.score for r in results] == pytest.approx([(i - 3.0) ** 2 for i in range(5)])


class HangsWhenNegative(NumericTask):
    def run(self, example: Any) -> Any:
        if self.x.value < 0:
            time.sleep(2.0)
        return super().run(example)


def test_a_thread_that_timed_out_does_not_hold_up_the_next_evaluations() -> None:
    with get_executor("thread", HangsWhenNegative(), workers=1, timeout=0.5) as ex:
        results = ex.evaluate([Job({"x": -1.0, "y": -1.5}, [None])] + [Job({"x": 3.0, "y": -1.5}, [None])] * 2)
    assert [r.status for r in results] == ["timeout", "done", "done"]


def test_process_executor_explains_unpicklable_tasks() -> None:
    task = NumericTask()
    task.name = "not-registered"
    task.hook = lambda: None  # a lambda does not pickle
    with pytest.raises(ConfigError, match="picklable"):
        ProcessExecutor(task)


def test_unknown_executor() -> None:
    with pytest.raises(ConfigError, match="unknown executor"):
        get_executor("gpu-cluster", NumericTask())


def test_process_workers_outlive_ctrl_c_and_know_tasks_registered_at_run_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import re
    import signal
    from pathlib import Path

    from tasks import registry

    monkeypatch.setitem(registry._REGISTRY, "numeric_at_run_time", "tasks.examples.numeric:NumericTask")
    task = NumericTask()
    task.name = "numeric_at_run_time"  # workers do not have this registration: the target travels with it
    with ProcessExecutor(task, workers=1, timeout=60) as ex:
        (pid,) = list(ex._pool._processes)
        status = Path(f"/proc/{pid}/status")
        if status.exists():  # Ctrl-C reaches the whole process group; the loop's process decides
            ignored = int(re.search(r"^SigIgn:\s*([0-9a-f]+)", status.read_text(), re.M).group(1), 16)
            assert ignored & (1 << (signal.SIGINT - 1)) and ignored & (1 << (signal.SIGTERM - 1))
        os.kill(pid, signal.SIGINT)
        (r,) = ex.evaluate([Job({"x": 3.0, "y": -1.5}, [None])])
    assert r.status == "done" and r.feedback.score == pytest.approx(0.0)


def test_process_workers_that_cannot_rebuild_the_task_are_refused_at_once() -> None:
    class Misdescribed(NumericTask):
        def spec(self) -> dict[str, Any]:
            return {"name": "numeric", "options": {"no_such_option": 1}}

    with pytest.raises(ConfigError, match="could not rebuild the task.*no_such_option"):
        ProcessExecutor(Misdescribed(), workers=1)
