"""Adapt a plain workflow (a Module or a bundled function plus a feedback function)
into a Task, so the loop sees one kind of thing."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from tasks.base import BaseTask
from trace_core import Feedback, Module, Parameter, as_feedback
from trace_core.bundle import BundledFunction
from trace_core.errors import ConfigError
from trace_core.feedback import Direction

__all__ = ["WorkflowTask", "WithData", "as_task", "is_workflow"]


def is_workflow(obj: Any) -> bool:
    """Whether ``obj`` can run as a workflow: a callable, or an object (a ``Module``) with a
    callable ``forward`` — what :class:`WorkflowTask` and a job file's ``workflow`` accept.

    Example:
        >>> class Agent(Module):
        ...     def forward(self, x):
        ...         return x
        >>> is_workflow(Agent()), is_workflow(print), is_workflow(3)
        (True, True, False)
    """
    return callable(obj) or callable(getattr(obj, "forward", None))


class WorkflowTask(BaseTask):
    """A workflow (``Module``, bundled function or callable) with a feedback function.

    Example:
        >>> from trace_core import Parameter, bundle
        >>> from trace_core.spaces import Float
        >>> k = Parameter(1.0, name="k", space=Float(0, 5))
        >>> @bundle
        ... def scale(x):
        ...     return x * k.value
        >>> task = WorkflowTask(scale, lambda ex, out: -abs(out - 2 * ex), train=[1, 2], parameters=[k])
        >>> task.evaluate(1, task.run(1)).score
        -1.0
    """

    name = "workflow"

    def __init__(
        self,
        workflow: Any,
        feedback: Callable[[Any, Any], Any],
        *,
        train: Sequence[Any] | None = None,
        val: Sequence[Any] | None = None,
        direction: Direction = "maximize",
        parameters: Sequence[Parameter] | None = None,
        description: str = "",
        name: str | None = None,
    ):
        super().__init__()
        if not is_workflow(workflow):
            raise ConfigError(f"a workflow must be callable (a Module with forward/__call__ or a function), got {workflow!r}")
        self.workflow, self.feedback_fn, self.direction = workflow, feedback, direction
        self._train = list(train) if train is not None else [None]
        self._val = list(val) if val is not None else self._train
        self._params = list(parameters) if parameters is not None else self._find_parameters(workflow)
        if not self._params:
            self._params = self._traced_parameters()
        if not self._params:
            raise ConfigError(
                "the workflow has no parameters: use a Module with Parameters, a bundle(trainable=True) "
                "function, or name them: optimize(agents.WorkflowTask(workflow, feedback, parameters=[...]))"
            )
        self.name = name or getattr(workflow, "__name__", type(workflow).__name__)
        doc = inspect.getdoc(workflow) if not isinstance(workflow, Module) else inspect.getdoc(type(workflow))
        self.description = description or (doc or "")

    @staticmethod
    def _find_parameters(workflow: Any) -> list[Parameter]:
        if isinstance(workflow, Module):
            return workflow.parameters()
        if isinstance(workflow, BundledFunction) and workflow.trainable:
            return [workflow.parameter]
        if hasattr(workflow, "parameters") and callable(workflow.parameters):
            return list(workflow.parameters())
        return []

    def _traced_parameters(self) -> list[Parameter]:
        """Run once on the first example and collect the parameters the output depends on."""
        from trace_core import Node, catching
        from trace_core.backward import topological

        try:
            with catching():
                out = self.run(self._train[0])
        except Exception:  # noqa: BLE001 - then the caller gets the clear "no parameters" error
            return []
        if not isinstance(out, Node):
            return []
        return [n for n in topological([out]) if n.trainable]

    @property
    def train(self) -> Sequence[Any]:
        return self._train

    @property
    def val(self) -> Sequence[Any]:
        return self._val

    def parameters(self) -> list[Parameter]:
        return self._params

    def run(self, example: Any) -> Any:
        fn = self.workflow
        if (isinstance(fn, Module) or not callable(fn)) and hasattr(fn, "forward"):
            fn = fn.forward
        return fn(example) if example is not None else fn()

    def evaluate(self, example: Any, output: Any) -> Feedback:
        value = getattr(output, "value", output)
        return as_feedback(_plain_number(self.feedback_fn(example, value)))


def _plain_number(result: Any) -> Any:
    """A NumPy or torch scalar (``np.float32(0.9)``, ``tensor(0.9)``) as a Python number,
    so it is read as a score and not as text."""
    if isinstance(result, (str, bytes, Feedback, dict)) or result is None:
        return result
    if isinstance(result, numbers.Real) and not isinstance(result, (int, float)):
        return float(result)
    item = getattr(result, "item", None)
    if callable(item) and getattr(result, "ndim", None) == 0:
        return item()
    return result


class WithData:
    """A task whose ``train`` / ``val`` examples are replaced; everything else is the task's.

    Example:
        >>> from tasks.examples.numeric import NumericTask
        >>> WithData(NumericTask(), train=[1, 2], val=None).train
        [1, 2]
    """

    def __init__(self, task: Any, train: Sequence[Any] | None, val: Sequence[Any] | None):
        self.task = task
        self._train = list(train) if train is not None else None
        self._val = list(val) if val is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.task, name)

    @property
    def train(self) -> Sequence[Any]:
        return self.task.train if self._train is None else self._train

    @property
    def val(self) -> Sequence[Any]:
        return self.task.val if self._val is None else self._val

    def spec(self) -> dict[str, Any]:
        """The task's spec plus the replaced data (see :func:`agents.factory.build_task_from_spec`)."""
        spec = dict(self.task.spec())
        spec.update({k: v for k, v in (("train", self._train), ("val", self._val)) if v is not None})
        return spec


def as_task(obj: Any, *, feedback: Any = None, train: Any = None, val: Any = None,
            direction: Direction = "maximize") -> Any:
    """A Task as given (with ``train`` / ``val`` replaced when given), or a
    :class:`WorkflowTask` around a workflow and feedback."""
    if all(hasattr(obj, a) for a in ("parameters", "run", "evaluate", "direction")):
        return obj if train is None and val is None else WithData(obj, train, val)
    if feedback is None:
        raise ConfigError("optimize() got a workflow without feedback=: pass feedback(example, output) -> Feedback")
    return WorkflowTask(obj, feedback, train=train, val=val, direction=direction)
