"""`tracetune chat` through typer's runner with a scripted chat model."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agents.cli import app


def test_tracetune_chat_answers_and_keeps_the_session(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps([
        {"tool_calls": [{"name": "list_tasks", "arguments": {}}]},
        "The registered tasks include numeric and hpo.",
    ]))
    runner = CliRunner()
    result = runner.invoke(app, ["chat", "--db", str(tmp_path / "chat.db"), "--store", str(tmp_path / "runs.db"),
                                 "--llm", f"scripted:{replies}"], input="which tasks are there?\n")
    assert result.exit_code == 0, result.output
    assert "numeric and hpo" in result.output
    from agents.chat import ChatSession

    (session,) = ChatSession.sessions(tmp_path / "chat.db")
    assert session
