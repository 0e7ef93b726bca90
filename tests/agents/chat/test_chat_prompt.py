"""The chat agent's system prompt: a snapshot, and what a session fills in."""

from __future__ import annotations

import os
from pathlib import Path

from trace_core import prompts
from trace_core.llm import ToolCall

SNAPSHOT = Path(__file__).parent / "snapshots" / "chat_system.md"


def test_system_prompt_matches_the_snapshot():
    text = prompts.render("chat/system", approval="not required.", session_id="s1",
                          state="No run is selected yet. Run store: sqlite:///runs.db.")
    if os.environ.get("TRACETUNE_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.exists(), f"missing {SNAPSHOT}; create it with TRACETUNE_UPDATE_SNAPSHOTS=1"
    assert text == SNAPSHOT.read_text(encoding="utf-8"), "prompt changed; review and rerun with TRACETUNE_UPDATE_SNAPSHOTS=1"


def test_the_session_prompt_shows_its_run_and_approval_mode(open_session):
    chat = open_session([ToolCall.of("start_run", task="numeric", optimizer="search"), "Started."],
                        require_approval=True)
    assert "No run is selected yet" in chat.system_prompt()
    chat.send("start")
    text = chat.system_prompt()
    assert f"Current run: {chat.run_id}" in text and "best so far 11.25" in text
    assert "asks the person before a proposal is applied" in text
    assert chat.llm.model == "scripted" and "${" not in text
