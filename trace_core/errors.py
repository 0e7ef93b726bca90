"""The exception hierarchy of tracetune.

One root, :class:`TraceTuneError`, and a few subclasses that say what went wrong
and what to do. Messages never contain secrets.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TraceTuneError",
    "InvalidProposal",
    "TracedError",
    "TaskError",
    "BudgetExceeded",
    "Pruned",
    "ConfigError",
]


class TraceTuneError(Exception):
    """Root of every error raised by tracetune."""


class ConfigError(TraceTuneError, ValueError):
    """A configuration (job file, state dict, argument) is invalid."""


class InvalidProposal(TraceTuneError, ValueError):
    """A proposed value does not fit its parameter's space.

    The message is written to be shown to an LLM: it says what was wrong and what
    is allowed.
    """

    def __init__(self, message: str, *, parameter: str | None = None, value: Any = None):
        super().__init__(message)
        self.parameter = parameter
        self.value = value


class TracedError(TraceTuneError):
    """An exception raised inside a traced op; carries the ``ExceptionNode``."""

    def __init__(self, exception_node: Any):
        self.exception_node = exception_node
        super().__init__(str(exception_node.value))


class TaskError(TraceTuneError):
    """A systemic failure of a task (not a failure on one example)."""


class BudgetExceeded(TraceTuneError):
    """A limit of a :class:`~trace_core.budget.Budget` was reached.

    ``limit`` names the limit (``"max_tokens"``, ``"max_usd"`` ...); ``calls`` holds the
    records of the LLM calls made before it, by the step it stopped (so they are stored).
    """

    def __init__(self, message: str, *, limit: str | None = None):
        super().__init__(message)
        self.limit = limit
        self.calls: tuple = ()


class Pruned(TraceTuneError):
    """An evaluation was stopped early because it looked hopeless."""

    def __init__(self, message: str = "pruned", *, step: int | None = None, value: float | None = None):
        super().__init__(message)
        self.step = step
        self.value = value
