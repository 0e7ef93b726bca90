"""tracetune front ends: the optimize() loop, executors, run store, jobs, CLI, report, chat.

The names below are imported on first use, so ``import agents.cli`` (the ``tracetune``
command) does not pay for the loop, the store or the executors it does not run.

Example:
    >>> from agents import optimize
    >>> from tasks.examples.numeric import NumericTask
    >>> from trace_core import Budget
    >>> optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=3), store="sqlite://").stop_reason
    'budget max_steps reached'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trace_core._lazy import lazy_package

if TYPE_CHECKING:
    from agents.executors import (
        Executor,
        Job,
        ProcessExecutor,
        RayExecutor,
        SerialExecutor,
        ThreadExecutor,
        get_executor,
    )
    from agents.loop import RunResult, StepRecord, optimize, resume
    from agents.store import RunStore, open_store
    from agents.workflow import WorkflowTask, as_task

__all__ = [
    "optimize",
    "resume",
    "RunResult",
    "StepRecord",
    "RunStore",
    "open_store",
    "Executor",
    "Job",
    "SerialExecutor",
    "ThreadExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "get_executor",
    "WorkflowTask",
    "as_task",
]

_HOMES = {
    **dict.fromkeys(("optimize", "resume", "RunResult", "StepRecord"), "agents.loop"),
    **dict.fromkeys(("RunStore", "open_store"), "agents.store"),
    **dict.fromkeys(("Executor", "Job", "SerialExecutor", "ThreadExecutor", "ProcessExecutor", "RayExecutor",
                     "get_executor"), "agents.executors"),
    **dict.fromkeys(("WorkflowTask", "as_task"), "agents.workflow"),
}


lazy_package(__name__, _HOMES)
