"""Hostile tool arguments and tools that never end: the turn is kept, the model is told,
the session reopens with every message, and Ctrl-C or a time limit ends a turn."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.chat import ChatSession
from trace_core.llm import ScriptedLLM, ToolCall

ROOT = Path(__file__).resolve().parents[3]
START = ToolCall.of("start_run", task="numeric", optimizer="search")

# JSON values as a model may send them: integers of any size, floats of any size, any text
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(st.characters(codec=None, exclude_categories=()), max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=6)
TOOLS = ["set_parameter", "run_steps", "start_run", "set_budget", "show_step", "rollback", "export_best",
         "render_report", "list_runs", "use_run"]


def _reopen(chat: ChatSession, workdir: Path) -> list[dict]:
    sid = chat.session_id
    chat.close()
    again = ChatSession(sid, llm=ScriptedLLM(["unused"]), db_path=workdir / "chat.db", store=str(workdir / "runs.db"))
    try:
        return again.history()
    finally:
        again.close()


def test_an_integer_above_2_63_comes_back_as_an_error_and_the_turn_is_kept(open_session, tool_results, workdir):
    big = ToolCall(name="set_parameter", arguments=json.dumps({"name": "x", "value": 10**30}))
    chat = open_session([START, big, "That number is too large."])
    assert chat.send("set x to 10**30") == "That number is too large."
    (error,) = tool_results(chat, "set_parameter")
    assert error.startswith("error: the arguments of set_parameter hold an integer too large to keep")
    assert "1000000000000000000000000000000" in error
    history = _reopen(chat, workdir)
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert history[-1]["content"] == "That number is too large."


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(calls=st.lists(st.tuples(st.sampled_from(TOOLS), st.dictionaries(st.sampled_from(
    ["name", "value", "steps", "task", "options", "step", "path", "max_tokens", "run_id", "limit", "reason",
     "eval_timeout", "overwrite", "candidate"]), JSON, max_size=3)), min_size=1, max_size=3))
def test_any_tool_arguments_give_an_answer_and_a_session_that_reopens_whole(open_session, workdir, calls):
    script = [START, *(ToolCall(name=n, arguments=json.dumps(a)) for n, a in calls), "Done."]
    chat = open_session(script, db_path=workdir / "chat.db", tool_seconds=60)
    assert chat.send("do these") == "Done."
    history = chat.history()
    tools = [m for m in history if m["role"] == "tool"]
    assert len(tools) == 1 + len(calls) and all(isinstance(m["content"], str) for m in tools)
    assert len(_reopen(chat, workdir)) == len(history)


def test_a_tool_past_its_time_limit_ends_the_turn_and_the_model_is_told(open_session, tool_results, workdir):
    slow = ToolCall.of("start_run", task="numeric", options={"delay": 3.0})
    chat = open_session([slow, "It took too long.", START, "Started."], tool_seconds=0.5)
    assert chat.send("start a slow run") == "It took too long."
    (error,) = tool_results(chat, "start_run")
    assert error.startswith("error: start_run took longer than its limit of 0.5 s before it finished")
    assert chat.run_id is None  # the call given up on does not become the session's run when it ends
    time.sleep(3.5)  # let the slow evaluation end, then the session works as before
    chat.bounds.seconds = 60
    assert chat.send("start a normal one") == "Started." and chat.run_id is not None


def test_a_slow_evaluation_times_out_and_start_run_says_so(open_session, tool_results):
    slow = ToolCall.of("start_run", task="numeric", options={"delay": 3.0}, eval_timeout=0.3)
    chat = open_session([slow, "ok"])
    chat.send("start")
    (text,) = tool_results(chat, "start_run")
    assert "its starting values could not be scored: the evaluation took longer than eval_timeout=0.3 s" in text


def test_ctrl_c_stops_a_start_run_that_would_never_end(tmp_path: Path) -> None:
    """The reproducer: start_run(task="numeric", options={"delay": 1e9}) in `tracetune chat`; a delay
    that large is now refused by the task's options, so the longest allowed one (an hour) stands in."""
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps([
        {"tool_calls": [{"name": "start_run", "arguments": {"task": "numeric", "options": {"delay": 3600}}}]},
        "It was stopped.", "Hello again."]))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TRACETUNE_LLM", None)
    proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "chat", "--db", "chat.db", "--store", "runs.db",
                             "--llm", f"scripted:{replies}"], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc.stdin.write("start a numeric run\n")
    proc.stdin.flush()
    seen = ""
    while "start_run(" not in seen:
        seen += proc.stdout.read(1)
        assert seen or proc.poll() is None
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate("hi\n", timeout=120)
    out = seen + out
    assert proc.returncode == 0, out
    assert "(stopped; the session is kept)" in out and "It was stopped." in out
    sid = re.search(r"tracetune chat --session (\w+)", out).group(1)
    chat = ChatSession(sid, llm=ScriptedLLM(["unused"]), db_path=tmp_path / "chat.db", store=str(tmp_path / "runs.db"))
    try:
        history = chat.history()
    finally:
        chat.close()
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "user", "assistant"]
    assert history[2]["content"].startswith("error: start_run was stopped by the person (Ctrl-C)")


def test_render_report_keeps_an_existing_file_unless_asked(open_session, tool_results, workdir):
    (workdir / "report.html").write_text("mine", encoding="utf-8")
    chat = open_session([START, ToolCall.of("render_report", path="report.html"),
                         ToolCall.of("render_report", path="report.html", overwrite=True), "Done."])
    chat.send("write the report to report.html")
    refused, written = tool_results(chat, "render_report")
    assert "exists; pass overwrite=true" in refused
    assert written.startswith("Wrote the HTML report") and (workdir / "report.html").read_text() != "mine"
