"""Helpers for the chat tests: a session in a temporary folder with a scripted chat model."""

from __future__ import annotations

import pytest

from agents.chat import ChatSession
from trace_core.llm import ScriptedLLM


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A temporary working directory (exports and reports land here)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACETUNE_LLM", raising=False)
    monkeypatch.delenv("TRACETUNE_CHAT_LLM", raising=False)
    return tmp_path


@pytest.fixture
def open_session(workdir):
    """``open_session(replies, **kw)``: a ChatSession on ``chat.db`` / ``runs.db`` in the work dir."""
    sessions = []

    def make(replies, **kw):
        llm = replies if hasattr(replies, "complete") else ScriptedLLM(replies)
        kw.setdefault("db_path", workdir / "chat.db")
        kw.setdefault("store", str(workdir / "runs.db"))
        session = ChatSession(llm=llm, **kw)
        sessions.append(session)
        return session

    yield make
    for s in sessions:
        s.close()


def _tool_results(session, name=None):
    names = {}
    out = []
    for m in session.history():
        for tc in m.get("tool_calls") or ():
            names[tc["id"]] = tc["function"]["name"]
        if m["role"] == "tool" and (name is None or names.get(m["tool_call_id"]) == name):
            out.append(m["content"])
    return out


@pytest.fixture
def tool_results():
    """``tool_results(session, name=None)``: the contents of the session's tool messages, in order."""
    return _tool_results
