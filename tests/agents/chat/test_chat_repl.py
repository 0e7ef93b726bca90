"""The REPL in a pseudo-terminal: a message and its answer, Ctrl-C at the prompt and
during a long turn (the run stops after its step, the session is kept), exit; then the
session holds it all."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from agents.loop import optimize
from agents.store import RunStore
from tasks.registry import build_task
from trace_core import Budget
from trace_core.llm import ScriptedLLM

ROOT = Path(__file__).resolve().parents[3]


def test_the_repl_in_a_terminal(workdir, open_session):
    pexpect = pytest.importorskip("pexpect")
    store = RunStore(workdir / "runs.db")
    slow = build_task("numeric", delay=0.2)  # each evaluation takes 0.2 s: time to press Ctrl-C
    run_id = optimize(slow, optimizer="search", budget=Budget(max_steps=0), store=store).run_id
    (workdir / "replies.json").write_text(json.dumps([
        "Hi there, I tune workflows.", {"tool_calls": [{"name": "run_steps", "arguments": {"steps": 60}}]},
        "You are welcome."]))
    env = {**os.environ, "TRACETUNE_CHAT_LLM": "scripted:replies.json", "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    code = (f"import sys; from agents.chat.repl import main; "
            f"sys.exit(main(session='t1', run='{run_id}', store='runs.db', db='chat.db'))")
    child = pexpect.spawn(sys.executable, ["-c", code], cwd=str(workdir), env=env, encoding="utf-8", timeout=60,
                          dimensions=(40, 200))
    try:
        child.expect("session t1, run " + run_id)
        child.expect("you>")
        child.sendline("hello")
        child.expect("Hi there, I tune workflows.")
        child.expect("you>")
        child.sendintr()  # at the prompt: nothing to stop
        child.expect("'exit' quits")
        child.expect("you>")
        child.sendline("run sixty steps")
        child.expect(r"run_steps\(steps=60\)")
        deadline = time.monotonic() + 30
        while len(store.steps(run_id)) < 2 and time.monotonic() < deadline:  # the run is under way
            time.sleep(0.05)
        child.sendintr()
        child.expect("stopped; the session is kept")
        child.expect("you>")
        child.sendline("thanks")
        child.expect("You are welcome.")
        child.expect("you>")
        child.sendline("exit")
        child.expect("continue it with: tracetune chat --session t1")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    steps = store.steps(run_id)
    assert 2 <= len(steps) < 61 and store.get_run(run_id)["status"] == "interrupted"
    chat = open_session(ScriptedLLM([]), session_id="t1")
    history = chat.history()
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant", "tool", "user", "assistant"]
    # the stopped tool's own answer is kept (it finished its step after Ctrl-C)
    assert "stopped: interrupted" in history[4]["content"] and history[-1]["content"] == "You are welcome."
    assert (workdir / "chat_history").read_text().count("hello") == 1  # line history on disk


def test_the_repl_reads_piped_input(workdir, monkeypatch):
    import io

    from agents.chat.repl import main

    (workdir / "replies.json").write_text(json.dumps(["Hi from a pipe."]))
    monkeypatch.setenv("TRACETUNE_CHAT_LLM", "scripted:replies.json")
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n\nexit\n"))
    out = io.StringIO()
    assert main(session="p1", db="chat.db", store="runs.db", out=out) == 0
    text = out.getvalue()
    assert "tracetune chat — session p1" in text and "Hi from a pipe.\n" in text
    assert "continue it with: tracetune chat --session p1" in text
    assert main(session="p1", db="chat.db", run="nope", out=io.StringIO()) == 2  # no such run: a usage error
    resumed = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(session="last", db="chat.db", out=resumed) == 0
    assert "session p1" in resumed.getvalue() and "continuing: 2 earlier messages" in resumed.getvalue()
