"""The task contract, as a test suite your package runs on its own task.

Subclass :class:`TaskContract` in a test module under a name pytest collects and say
how to build your task (at a size that runs in seconds); every ``test_*`` method then
runs on it::

    from tasks.testing import TaskContract

    class TestWordCount(TaskContract):
        def make_task(self):
            return WordCountTask(examples=4)

The contract (see :mod:`tasks.base`): the task follows the :class:`~tasks.base.Task`
protocol, with named parameters whose values their spaces accept, a direction, a
description and data; ``run`` is traced from the parameters to its output; an
evaluation under other values (``trace_core.using``, as the loop evaluates candidates)
gives :class:`~trace_core.Feedback` and leaves the live values alone; broken values are
a failure of that example, never a :class:`~trace_core.errors.TaskError`; a registered
task rebuilds from its ``spec()``.

The checks are plain assertions; no test runner is needed to import this module.

Example:
    >>> from tasks.examples.numeric import NumericTask
    >>> class Contract(TaskContract):
    ...     def make_task(self):
    ...         return NumericTask()
    >>> Contract().test_run_is_traced_to_the_parameters()
"""

from __future__ import annotations

import abc
from typing import Any

from tasks.base import Task
from tasks.registry import build_task, is_registered
from trace_core import Feedback, Node, Parameter, backward, catching, no_trace, using
from trace_core.backward import topological
from trace_core.errors import TaskError

__all__ = ["TaskContract"]


class TaskContract(abc.ABC):
    """What every task does; subclasses implement :meth:`make_task`."""

    examples = 2  #: validation examples each evaluation check runs

    @abc.abstractmethod
    def make_task(self) -> Any:
        """A fresh task, small enough that a few runs take seconds."""

    def broken_values(self, task: Any) -> dict[str, Any]:
        """Values no space accepts, that the task must score as a failure (not raise on)."""
        return {p.name: object() for p in task.parameters()}

    def _evaluate(self, task: Any, values: dict[str, Any], example: Any) -> Feedback:
        """Run and evaluate ``example`` under ``values``, as the loop's evaluation does."""
        with using(values), no_trace():
            return task.evaluate(example, task.run(example))

    # -- the contract ----------------------------------------------------------------------
    def test_protocol_and_parameters(self) -> None:
        task = self.make_task()
        assert isinstance(task, Task), f"{type(task).__name__} lacks part of the Task protocol (tasks.base.Task)"
        assert task.direction in ("maximize", "minimize"), task.direction
        assert task.name and isinstance(task.description, str) and task.description, "name and description"
        params = task.parameters()
        assert params and all(isinstance(p, Parameter) for p in params), params
        names = [p.name for p in params]
        assert len(set(names)) == len(names), f"two parameters share a name: {names}"
        for p in params:
            assert p.space.validate(p.value) == p.value or p.space.kind == "json", f"{p.name}'s space refuses it"
        assert len(task.train) > 0 and len(task.val) > 0, "the task needs train and val data"

    def test_run_is_traced_to_the_parameters(self) -> None:
        task = self.make_task()
        example = task.train[0]
        with catching():
            out = task.run(example)
        assert isinstance(out, Node), f"run must return a traced Node, not {type(out).__name__}"
        fb = task.evaluate(example, out)
        assert isinstance(fb, Feedback), f"evaluate must return a Feedback, not {type(fb).__name__}"
        reached = backward(out, fb)
        assert set(reached) & set(task.parameters()), "no parameter is an ancestor of the output"
        assert any(n.trainable for n in topological([out]))

    def test_evaluation_under_given_values_leaves_the_live_ones(self) -> None:
        task = self.make_task()
        live = {p.name: p.value for p in task.parameters()}
        for example in list(task.val)[: self.examples]:
            fb = self._evaluate(task, dict(live), example)
            assert isinstance(fb, Feedback)
            assert fb.score is not None or fb.failed, "a Feedback needs a score, or to say it failed"
        assert {p.name: p.value for p in task.parameters()} == live

    def test_broken_values_are_a_failed_example_not_a_systemic_failure(self) -> None:
        task = self.make_task()
        example = list(task.val)[0]
        try:
            fb = self._evaluate(task, self.broken_values(task), example)
        except TaskError as e:
            raise AssertionError(f"broken values raised TaskError (a systemic failure): {e}") from e
        except Exception:  # noqa: BLE001 - an example's failure: the loop scores it as failed
            return
        assert isinstance(fb, Feedback) and (fb.failed or fb.score is not None)

    def test_spec_rebuilds_the_task(self) -> None:
        task = self.make_task()
        spec = getattr(task, "spec", None)
        if not callable(spec) or not is_registered(spec().get("name", "")):
            return  # not registered: runs rebuild it from Python, not from its spec
        s = spec()
        again = build_task(s["name"], **s.get("options", {}))
        assert [p.name for p in again.parameters()] == [p.name for p in task.parameters()]
