"""The plugin's own tests: tracetune's contract suites on its optimizer and task."""

from __future__ import annotations

from optimizers.testing import OptimizerContract
from tasks.testing import TaskContract
from tracetune_hill.optimizer import HillClimb
from tracetune_hill.task import LineFitTask


class TestHillClimb(OptimizerContract):
    def make_optimizer(self, parameters):
        return HillClimb(parameters, seed=0)


class TestLineFit(TaskContract):
    def make_task(self):
        return LineFitTask(points=4)
