"""Numeric optimization: find the minimum of a smooth function of two numbers."""

from __future__ import annotations

import time
from typing import Any

from tasks.base import BaseTask
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
