"""Test helpers that ship with the library: the fake LLMs and a loopback OpenAI-compatible server.

The pytest fixture ``openai_server`` lives in :mod:`trace_core.testing.pytest_plugin`
(import it into a conftest or test module: ``from trace_core.testing.pytest_plugin import openai_server``).

Example:
    >>> from trace_core.testing import ScriptedLLM
    >>> ScriptedLLM(["ok"]).complete("ping").text
    'ok'
"""

from __future__ import annotations

from typing import Any

from trace_core.llm.replay import ReplayLLM
from trace_core.llm.scripted import ScriptedLLM

__all__ = ["ScriptedLLM", "ReplayLLM", "openai_server", "LoopbackServer", "MODES"]


def __getattr__(name: str) -> Any:
    """The server's names, imported when first used, so ``python -m trace_core.testing.server``
    runs the module once (no runpy warning about a module imported by its package)."""
    if name in ("MODES", "LoopbackServer", "openai_server"):
        from trace_core.testing import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
