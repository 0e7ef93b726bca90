"""A numeric run driven by a scripted OptoPrime: every proposal is new and better than
the last, and every evaluation is recorded, so tests can tell what a run (re)did."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tasks.examples.numeric import NumericTask
from trace_core.llm import ScriptedLLM

# each LLM call proposes the next point, each closer to the minimum at (3, -1.5)
PATH = [(1.0, -0.5), (2.0, -1.0), (2.5, -1.2), (2.8, -1.4), (2.9, -1.45), (2.95, -1.48), (3.0, -1.5)]


def field(row: Any, name: str) -> Any:
    """A column of a stored row, whether the store returns mappings or records."""
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


class Script:
    """The scripted model: ``calls`` holds the messages of every call, across runs."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def reply(self, messages: Any) -> str:
        x, y = PATH[len(self.calls)]
        self.calls.append(messages)
        return json.dumps({"reasoning": f"move to {x}, {y}", "suggestion": {"x": x, "y": y}, "no_change": False})

    def llm(self) -> ScriptedLLM:
        return ScriptedLLM(self.reply)


class RecordingTask(NumericTask):
    """NumericTask that records the (x, y) of every evaluation."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.seen: list[tuple[float, float]] = []

    def evaluate(self, example: Any, output: Any) -> Any:
        self.seen.append((self.x.value, self.y.value))
        return super().evaluate(example, output)
