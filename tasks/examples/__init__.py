"""Small example tasks: numeric optimization, prompt QA and code repair."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["NumericTask", "PromptQATask", "CodeRepairTask"]

_LAZY = {
    "NumericTask": "tasks.examples.numeric",
    "PromptQATask": "tasks.examples.prompt_qa",
    "CodeRepairTask": "tasks.examples.code_repair",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
