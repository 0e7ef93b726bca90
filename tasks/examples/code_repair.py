"""Code repair: a trainable function is fixed until its unit tests pass."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tasks.base import BaseTask, TaskOptions
from trace_core import Feedback, Parameter, bundle

__all__ = ["CodeRepairTask", "CASES"]

#: (input, expected) pairs for ``median``
CASES: list[tuple[list[float], float]] = [
    ([1, 2, 3], 2),
    ([3, 1, 2], 2),
    ([4, 1, 3, 2], 2.5),
    ([5], 5),
    ([7, 7, 1, 9], 7),
    ([-1, -5, 3, 10, 2], 2),
]


@bundle(trainable=True, catch=True)
def median(xs):
    """Return the median of a non-empty list of numbers."""
    return xs[len(xs) // 2]


@bundle
def unit_tests(*results: Any) -> list[Any]:
    """Collects the result of median on each unit-test input (an exception where it raised)."""
    return list(results)


class CodeRepairTask(BaseTask):
    """Fix ``median`` (its starting code forgets to sort and to average the middle
    pair); the feedback is the failing unit tests.

    Example:
        >>> task = CodeRepairTask()
        >>> 0 <= task.evaluate(None, task.run(None)).score < 1
        True
    """

    name = "code_repair"
    description = ("Fix the function median(xs) so that every unit test passes. The score is the fraction of the "
                   "unit tests that pass: higher is better, and 1.0 (all pass) is the best possible score.")
    direction = "maximize"

    class Options(TaskOptions):
        sandbox: bool | Literal["strict"] | None = Field(
            None, description="where proposed code runs: null (default: in the sandbox), true (every call), "
            "'strict' (refuse without namespace isolation) or false (in this process)")
        timeout: float | None = Field(None, gt=0, description="seconds one call of the proposed code may take")

    def __init__(self, sandbox: bool | str | None = None, timeout: float | None = None):
        super().__init__(sandbox=sandbox, timeout=timeout)
        self.func = bundle(median.fn, trainable=True, catch=True, sandbox=sandbox, timeout=timeout)
        self.code: Parameter = self.func.parameter

    def parameters(self) -> list[Parameter]:
        return [self.code]

    def run(self, example: Any) -> Any:
        results = []
        for xs, _ in CASES:
            try:
                results.append(self.func(list(xs)))
            except Exception as e:  # noqa: BLE001 - untraced runs raise instead of catching
                results.append(e)
        return unit_tests(*results)

    def evaluate(self, example: Any, output: Any) -> Feedback:
        passed, lines = 0, []
        for (xs, want), value in zip(CASES, getattr(output, "value", output)):
            if isinstance(value, BaseException):
                lines.append(f"median({xs}) raised {type(value).__name__}: {value}")
            elif value == want:
                passed += 1
            else:
                lines.append(f"median({xs}) returned {value!r}, expected {want!r}")
        summary = f"{passed} of {len(CASES)} unit tests pass (score {passed / len(CASES):.3g}; 1.0 is the best)"
        text = summary if passed == len(CASES) else f"{summary}; failing tests:\n" + "\n".join(lines)
        return Feedback(score=passed / len(CASES), metrics={"passed": passed, "total": len(CASES)}, text=text)
