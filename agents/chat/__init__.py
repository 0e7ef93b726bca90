"""Chat-driven optimization: a langgraph agent whose tools drive the loop and the run store.

``ChatSession(...).send(text)`` from Python; ``tracetune chat`` in a terminal
(:func:`agents.chat.repl.main`). The conversation is kept in SQLite, so a session
resumes after the process exits.

Example:
    >>> import tempfile
    >>> from trace_core.llm import ScriptedLLM, ToolCall
    >>> d = tempfile.mkdtemp()
    >>> llm = ScriptedLLM([ToolCall.of("list_runs"), "There are no runs yet."])
    >>> ChatSession(llm=llm, db_path=f"{d}/chat.db", store=f"{d}/runs.db").send("any runs?")
    'There are no runs yet.'
"""

from __future__ import annotations

from agents.chat.model import LayerChatModel
from agents.chat.session import ChatEvent, ChatSession, chat_llm
from agents.chat.tools import TOOL_NAMES

__all__ = ["ChatSession", "ChatEvent", "LayerChatModel", "chat_llm", "TOOL_NAMES"]
