"""The Task protocol: what a problem tells the loop and the optimizers.

A task owns its parameters (with spaces), its data (examples, configurations or
seeds), a traced ``run`` on one example and an ``evaluate`` that turns the output
into :class:`~trace_core.Feedback`. A failure on one example is a Feedback with
the reason (``Feedback.failure``); only a systemic failure raises ``TaskError``.

Evaluations may report intermediate values with :func:`report`; when the loop
installed a reporter that decides to prune, :func:`report` raises
:class:`~trace_core.errors.Pruned`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from trace_core.errors import Pruned
from trace_core.feedback import Direction, Feedback

__all__ = ["Task", "BaseTask", "SeededTask", "Reporter", "report", "reporting", "Pruned"]


@runtime_checkable
class Task(Protocol):
    """What a problem must provide. See :class:`BaseTask` for a convenient base."""

    name: str
    description: str
    direction: Direction

    def parameters(self) -> list[Any]:
        """The task's Parameters (each with a space and a unique name)."""
        ...

    @property
    def train(self) -> Sequence[Any]:
        """Examples (or configurations, or seeds) the optimizer learns from."""
        ...

    @property
    def val(self) -> Sequence[Any]:
        """Examples candidates are scored on."""
        ...

    def run(self, example: Any) -> Any:
        """Run the workflow on one example, traced; returns a Node (or a value)."""
        ...

    def evaluate(self, example: Any, output: Any) -> Feedback:
        """Score one output. Never raises for a failure on this example."""
        ...


class BaseTask:
    """Defaults for tasks: empty vocabulary, ``spec()`` for process executors.

    Subclasses set ``name``, ``description``, ``direction`` and implement
    ``parameters``, ``run`` and ``evaluate``, and fill ``train`` / ``val``.
    """

    name: str = "task"
    description: str = ""
    direction: Direction = "maximize"
    #: words an evolutionary optimizer's operators may use
    vocabulary: Sequence[str] = ()

    def __init__(self, **options: Any) -> None:
        self.options = dict(options)

    @property
    def train(self) -> Sequence[Any]:
        return [None]

    @property
    def val(self) -> Sequence[Any]:
        return self.train

    def spec(self) -> dict[str, Any]:
        """How to rebuild this task in another process: registered name and options."""
        return {"name": self.name, "options": dict(self.options)}


class SeededTask(BaseTask):
    """A task whose examples are seeds: ``options["seeds"]`` to learn from and
    ``options["val_seeds"]`` (or the same seeds) to score candidates on."""

    @property
    def train(self) -> list[int]:
        return list(self.options["seeds"])

    @property
    def val(self) -> list[int]:
        seeds = self.options.get("val_seeds")
        return list(seeds) if seeds is not None else self.train


class Reporter(Protocol):
    """Receives intermediate values of one evaluation; raises ``Pruned`` to stop it."""

    def report(self, step: int, value: float) -> None: ...


_reporter: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("tracetune_reporter", default=None)


def report(step: int, value: float) -> None:
    """Report an intermediate value of the running evaluation (e.g. validation accuracy
    after an epoch). Raises :class:`Pruned` when the loop decides to stop it; a no-op
    when nothing listens."""
    reporter = _reporter.get()
    if reporter is not None:
        reporter.report(step, value)


@contextlib.contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Install ``reporter`` for evaluations run in this context."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)
