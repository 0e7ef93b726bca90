"""Test helpers that ship with the library: the fake LLMs and a loopback OpenAI-compatible server.

The pytest fixture ``openai_server`` lives in :mod:`trace_core.testing.pytest_plugin`
(import it into a conftest or test module: ``from trace_core.testing.pytest_plugin import openai_server``).

Example:
    >>> from trace_core.testing import ScriptedLLM
    >>> ScriptedLLM(["ok"]).complete("ping").text
    'ok'
"""

from __future__ import annotations

from trace_core.llm.replay import ReplayLLM
from trace_core.llm.scripted import ScriptedLLM
from trace_core.testing.server import MODES, LoopbackServer, openai_server

__all__ = ["ScriptedLLM", "ReplayLLM", "openai_server", "LoopbackServer", "MODES"]
