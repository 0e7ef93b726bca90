"""A scripted chat session drives a run end to end and survives a restart of the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.chat.session import CANCELLED
from agents.store import RunStore
from agents.chat import ChatSession
from trace_core.errors import BudgetExceeded, ConfigError
from trace_core.llm import ScriptedLLM, ToolCall

ROOT = Path(__file__).resolve().parents[3]


def test_a_session_starts_runs_proposes_rolls_back_and_resumes_after_a_restart(open_session, tool_results, workdir):
    chat = open_session([
        ToolCall.of("start_run", task="numeric", optimizer="search"), "Started a numeric run.",
        ToolCall.of("describe_parameters"), "The parameters are x and y.",
        ToolCall.of("run_steps", steps=2), "I ran two steps.",
        ToolCall.of("propose"), "Here is the proposal.",
        ToolCall.of("accept"), "Applied.",
        ToolCall.of("rollback", step=2), "Back to the values of step 2.",
    ])
    assert chat.send("Optimize the numeric task with Search") == "Started a numeric run."
    run_id = chat.run_id
    assert run_id and run_id in chat.system_prompt()
    store = RunStore(workdir / "runs.db")
    assert [s["step"] for s in store.steps(run_id)] == [0]

    assert chat.send("What are the parameters?") == "The parameters are x and y."
    described = tool_results(chat, "describe_parameters")[0]
    assert "- x: a number between -10 and 10" in described and "current value: 0" in described
    assert "Last trace (step 0):" in described and "parameter x = 0.0" in described  # Search traces nothing itself

    assert chat.send("Run two steps") == "I ran two steps."
    assert "Ran 2 step(s)" in tool_results(chat, "run_steps")[0]
    assert [s["step"] for s in store.steps(run_id)] == [0, 1, 2]

    assert chat.send("Show me the next proposal") == "Here is the proposal."
    proposal = tool_results(chat, "propose")[0]
    assert "Proposal for step 3" in proposal and "Candidate 0 (best)" in proposal and "x: 0 → " in proposal
    assert len(store.steps(run_id)) == 3  # shown, not committed

    chat.send("Accept it")
    accepted = store.steps(run_id)[-1]
    assert accepted["step"] == 3 and accepted["accepted"] and accepted["values"] != store.snapshot(run_id, 2)

    chat.send("Roll back to step 2")
    last = store.steps(run_id)[-1]
    assert last["step"] == 4 and last["values"] == store.snapshot(run_id, 2)
    assert store.candidates(run_id, 4)[0]["reasoning"] == "rolled back to step 2"
    history = chat.history()
    chat.close()

    # a new session object on the same file, with no store given: it finds the run, the store and the messages
    model = ScriptedLLM([ToolCall.of("show_run"), "Step 4 restored step 2."])
    again = open_session(model, session_id=chat.session_id, store=None)
    assert again.run_id == run_id and again.history() == history
    assert again.send("What happened?") == "Step 4 restored step 2."
    seen = [m["content"] for m in model.calls[0] if m["role"] == "user"]
    assert seen[0] == "Optimize the numeric task with Search" and seen[-1] == "What happened?"
    assert "4: " in tool_results(again, "show_run")[0]


def test_a_new_process_continues_the_session(open_session, tool_results, workdir):
    chat = open_session([ToolCall.of("start_run", task="numeric", optimizer="search"), "Started."])
    chat.send("start the numeric task")
    session_id, run_id = chat.session_id, chat.run_id
    chat.close()
    replies = workdir / "replies.json"
    replies.write_text(json.dumps([{"tool_calls": [{"name": "show_costs", "arguments": {}}]}, "It cost nothing."]))
    code = ("import json, sys; from agents.chat import ChatSession; s = ChatSession(sys.argv[1], db_path='chat.db'); "
            "a = s.send('What did it cost?'); print(json.dumps({'answer': a, 'run': s.run_id}))")
    env = {**os.environ, "TRACETUNE_CHAT_LLM": f"scripted:{replies}",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code, session_id], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"answer": "It cost nothing.", "run": run_id}
    back = open_session(ScriptedLLM([]), session_id=session_id)
    texts = [m["content"] for m in back.history() if m["role"] in ("user", "assistant") and m["content"]]
    assert texts == ["start the numeric task", "Started.", "What did it cost?", "It cost nothing."]
    assert f"Run {run_id} spent" in tool_results(back, "show_costs")[0]


def test_approval_interrupt_asks_the_person_before_applying(open_session, tool_results, workdir):
    chat = open_session([
        ToolCall.of("start_run", task="numeric", optimizer="search"), ToolCall.of("propose"), "Proposal shown.",
        ToolCall.of("accept"), "Not applied, as you said.",
        ToolCall.of("accept"), "Applied.",
    ], require_approval=True)
    chat.send("start numeric and propose a step")
    store = RunStore(workdir / "runs.db")
    question = "".join(chat.stream("accept it"))  # streamed turns end with the question too
    assert "Apply the best candidate?" in question and "Candidate 0" in question and chat.question == question
    assert len(store.steps(chat.run_id)) == 1
    assert chat.send("no, keep the current values") == "Not applied, as you said."
    assert "did not approve" in tool_results(chat, "accept")[0] and len(store.steps(chat.run_id)) == 1
    assert chat.question is None
    assert "Apply the best candidate?" in chat.send("ok, accept it after all")
    assert chat.send("yes") == "Applied."
    step = store.steps(chat.run_id)[-1]
    assert step["step"] == 1 and step["accepted"]
    assert step["values"] == store.candidates(chat.run_id, 1)[0]["values"]


def test_answers_stream_and_tool_activity_is_reported(open_session):
    chat = open_session([ToolCall.of("list_runs"), "There are no runs in this store yet."])
    events = list(chat.events("any runs?"))
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["tool_call", "tool_result"] and events[1].data["content"].startswith("No runs")
    texts = [e.data for e in events if e.kind == "text"]
    assert len(texts) > 3 and "".join(texts) == "There are no runs in this store yet."


def test_a_turn_stopped_during_a_tool_leaves_a_usable_session(open_session, monkeypatch):
    model = ScriptedLLM([ToolCall.of("list_runs"), "Hello again."])
    chat = open_session(model)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("agents.chat.views.list_runs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        chat.send("list the runs")
    monkeypatch.undo()
    assert chat.send("hello?") == "Hello again."
    roles = [m["role"] for m in chat.history()]
    assert roles == ["user", "assistant", "tool", "user", "assistant"]
    assert chat.history()[2]["content"] == CANCELLED
    assert [m["role"] for m in model.calls[-1]][-3:] == ["assistant", "tool", "user"]


def test_the_chat_model_budget_is_kept_with_the_session(open_session):
    chat = open_session([ToolCall.of("list_runs"), "No runs.", "never sent"], chat_limits={"max_calls": 2})
    assert chat.send("runs?") == "No runs."
    with pytest.raises(BudgetExceeded, match="chat model's budget"):
        chat.send("again?")
    chat.close()
    again = open_session(["Now I can answer."], session_id=chat.session_id, chat_limits={"max_calls": 3})
    assert again.send("again?") == "Now I can answer."
    assert again.record.chat_spent["calls"] == 3


def test_without_any_llm_the_session_says_how_to_set_one(workdir):
    with pytest.raises(ConfigError, match="the chat needs an LLM that can call tools: set TRACETUNE_LLM"):
        ChatSession(db_path=workdir / "chat.db", store=str(workdir / "runs.db"))
