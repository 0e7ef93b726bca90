"""Numeric optimization: find the minimum of a smooth function of two numbers."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field, model_validator

from tasks.base import BaseTask, TaskOptions
from trace_core import Feedback, Parameter, bundle
from trace_core.spaces import Float

__all__ = ["NumericTask"]


@bundle
def objective(x: float, y: float, cx: float, cy: float, delay: float = 0.0) -> float:
    """A bowl: (x - cx)^2 + 2 (y - cy)^2 + 0.5 (x - cx)(y - cy); its minimum is 0."""
    if delay:
        time.sleep(delay)
    dx, dy = x - cx, y - cy
    return dx * dx + 2 * dy * dy + 0.5 * dx * dy


class NumericTask(BaseTask):
    """Minimize a two-variable bowl whose center is hidden from the optimizer.

    Example:
        >>> task = NumericTask()
        >>> task.evaluate(None, task.run(None)).score > 0
        True
    """

    name = "numeric"
    description = ("Choose x and y to make f(x, y) as small as possible. The score is f(x, y) itself: lower is "
                   "better, and 0 (its minimum) is the best possible score.")
    direction = "minimize"

    class Options(TaskOptions):
        center: tuple[float, float] = Field((3.0, -1.5), description="where the minimum is (x, y)")
        start: tuple[float, float] = Field((0.0, 0.0), description="starting values of x and y")
        bound: float = Field(10.0, gt=0, description="x and y range over [-bound, bound]")
        delay: float = Field(0.0, ge=0, le=3600, description="seconds each evaluation sleeps")

        @model_validator(mode="after")
        def _start_in_bounds(self) -> NumericTask.Options:
            if max(abs(v) for v in self.start) > self.bound:
                raise ValueError(f"start {list(self.start)} must lie within [-bound, bound] = "
                                 f"[{-self.bound:g}, {self.bound:g}]")
            return self

    def __init__(self, center: tuple[float, float] = (3.0, -1.5), start: tuple[float, float] = (0.0, 0.0),
                 bound: float = 10.0, delay: float = 0.0):
        super().__init__(center=list(center), start=list(start), bound=bound, delay=delay)
        self.delay = delay
        self.center = tuple(float(c) for c in center)
        self.x = Parameter(float(start[0]), name="x", space=Float(-bound, bound), description="first coordinate")
        self.y = Parameter(float(start[1]), name="y", space=Float(-bound, bound), description="second coordinate")

    def parameters(self) -> list[Parameter]:
        return [self.x, self.y]

    def run(self, example: Any) -> Any:
        return objective(self.x, self.y, self.center[0], self.center[1], self.delay)

    def evaluate(self, example: Any, output: Any) -> Feedback:
        value = float(getattr(output, "value", output))
        hint = "that is the minimum, the best possible" if value < 1e-6 else "lower is better; the best possible is 0"
        return Feedback(score=value, metrics={"f": value}, text=f"f(x, y) = {value:.6g}; {hint}")
