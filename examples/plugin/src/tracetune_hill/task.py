"""LineFitTask: find the slope and intercept of a line through noisy points."""

from __future__ import annotations

import random
from typing import Any

from pydantic import Field

from tasks.base import BaseTask, TaskOptions
from trace_core import Feedback, Parameter, bundle
from trace_core.spaces import Float

__all__ = ["LineFitTask"]


@bundle
def predict(slope: float, intercept: float, x: float) -> float:
    """The line's value at x: slope * x + intercept."""
    return slope * x + intercept


class LineFitTask(BaseTask):
    """Minimize the squared error of a line on points of ``y = 2x + 1`` plus noise.

    Example:
        >>> task = LineFitTask(points=4)
        >>> task.evaluate(task.train[0], task.run(task.train[0])).score > 0
        True
    """

    name = "line_fit"
    description = "Choose slope and intercept so the line passes through the points; the score is the squared error."
    direction = "minimize"

    class Options(TaskOptions):
        points: int = Field(12, ge=2, le=1000, description="points in each of train and val")
        noise: float = Field(0.1, ge=0, description="standard deviation of the noise on y")
        seed: int = Field(0, ge=0, description="seed of the points")

    def __init__(self, points: int = 12, noise: float = 0.1, seed: int = 0):
        super().__init__(points=points, noise=noise, seed=seed)
        rng = random.Random(seed)
        xs = [rng.uniform(-3, 3) for _ in range(2 * points)]
        data = [(x, 2 * x + 1 + rng.gauss(0, noise)) for x in xs]
        self._train, self._val = data[:points], data[points:]
        self.slope = Parameter(0.0, name="slope", space=Float(-10, 10), description="the line's slope")
        self.intercept = Parameter(0.0, name="intercept", space=Float(-10, 10), description="the line's intercept")

    @property
    def train(self) -> list[tuple[float, float]]:
        return self._train

    @property
    def val(self) -> list[tuple[float, float]]:
        return self._val

    def parameters(self) -> list[Parameter]:
        return [self.slope, self.intercept]

    def run(self, example: tuple[float, float]) -> Any:
        return predict(self.slope, self.intercept, example[0])

    def evaluate(self, example: tuple[float, float], output: Any) -> Feedback:
        y = float(getattr(output, "value", output))
        error = (y - example[1]) ** 2
        return Feedback(score=error, metrics={"squared_error": error},
                        text=f"at x={example[0]:.2f} the line gives {y:.3f}, the point is {example[1]:.3f}")
