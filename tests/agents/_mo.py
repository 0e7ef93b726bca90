"""A two-objective task for tests: ``f1 = x`` and ``f2 = (1 - x)^2 + y^2``, both minimized
(the front is ``y = 0``), with an optional constraint and reference point."""

from __future__ import annotations

from typing import Any

from tasks.base import BaseTask
from trace_core import Feedback, Parameter
from trace_core.spaces import Float


def objectives(x: float, y: float) -> dict[str, float]:
    return {"f1": x, "f2": (1 - x) ** 2 + y * y}


class TwoObjectives(BaseTask):
    name = "two_objectives"
    direction = "minimize"
    objectives = {"f1": "minimize", "f2": "minimize"}

    def __init__(self, constraints: tuple[str, ...] = (), reference_point: Any = None, start: float = 0.5):
        super().__init__()
        self.constraints = constraints
        self.reference_point = reference_point
        self.x = Parameter(start, name="x", space=Float(0, 1))
        self.y = Parameter(start, name="y", space=Float(-1, 1))

    def parameters(self) -> list[Parameter]:
        return [self.x, self.y]

    def run(self, example: Any) -> Any:
        return (self.x.value, self.y.value)

    def evaluate(self, example: Any, output: Any) -> Feedback:
        metrics = objectives(*getattr(output, "value", output))
        return Feedback(score=metrics["f1"], metrics=metrics, text=f"f1 {metrics['f1']:.3g}, f2 {metrics['f2']:.3g}")
