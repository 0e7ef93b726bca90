"""What a session keeps across turns and restarts: the run's own budget, a pending proposal
awaiting approval, and a usable session after a runaway turn or null arguments."""

from __future__ import annotations

import pytest

from agents.loop import optimize
from agents.store import RunStore
from tasks.registry import build_task
from trace_core import Budget
from trace_core.errors import TraceTuneError
from trace_core.llm import ScriptedLLM, ToolCall


def test_run_steps_keep_the_run_own_budget_until_the_session_changes_it(open_session, tool_results, workdir):
    store = RunStore(workdir / "runs.db")
    run_id = optimize(build_task("numeric"), optimizer="search", store=store,
                      budget=Budget(max_steps=1, max_evaluations=3, max_usd=0.25)).run_id  # like `tracetune run`
    chat = open_session([
        ToolCall.of("run_steps", steps=10), ToolCall.of("run_steps", steps=1),
        ToolCall.of("set_budget", max_evaluations=4), ToolCall.of("run_steps", steps=5), "Done.",
    ], run_id=run_id)
    chat.send("run ten steps")
    capped, refused, more = tool_results(chat, "run_steps")
    assert "stopped: budget max_evaluations reached" in capped and "3 evaluations in all" in capped
    assert refused.startswith("error: the run's own budget max_evaluations is already reached")
    assert "4 evaluations in all" in more
    kept = store.get_run(run_id)["config"]["budget"]
    assert kept["max_usd"] == 0.25 and kept["max_evaluations"] == 4  # `tracetune resume` still sees them


def test_a_proposal_awaiting_approval_survives_a_restart(open_session, tool_results, workdir):
    chat = open_session([ToolCall.of("start_run", task="numeric", optimizer="search"), ToolCall.of("propose"),
                         ToolCall.of("accept")], require_approval=True)
    question = chat.send("start, propose and apply")
    assert "Apply the best candidate?" in question
    proposed = tool_results(chat, "propose")[0]
    chat.close()
    again = open_session(["Applied."], session_id=chat.session_id, store=None)
    assert again.question == question
    assert again.send("yes") == "Applied."
    applied = tool_results(again, "accept")[0]
    assert applied.startswith("Applied candidate 0 as step 1; the values now score ")
    assert "(before: 11.25, minimize); that is worse than before" in applied  # Search's first try is worse here
    step = RunStore(workdir / "runs.db").steps(again.run_id)[-1]
    assert step["step"] == 1 and step["accepted"] and step["spent"]["evaluations"] == 2
    assert f"x: 0 → {step['values']['x']:.6g}" in proposed  # the proposal shown before the restart
    assert again.record.pending is None


def test_null_optional_arguments_mean_the_default_and_a_runaway_turn_is_stopped(open_session, tool_results):
    chat = open_session([ToolCall.of("list_runs", limit=None, task=None), ToolCall.of("use_run", run_id=""),
                         "Listed.", *[ToolCall.of("list_runs")] * 31, "Still here."])
    assert chat.send("runs?") == "Listed."
    assert tool_results(chat, "list_runs")[0].startswith("No runs in")
    assert "run_id: String should have at least 1 character" in tool_results(chat, "use_run")[0]
    with pytest.raises(TraceTuneError, match="more than 30 rounds of tool calls"):
        chat.send("list them again and again")
    assert chat.send("are you there?") == "Still here."


def test_the_tool_calls_of_one_message_run_in_order(open_session, tool_results, monkeypatch):
    import time

    import agents.chat.tools as chat_tools

    plain = chat_tools._guarded

    def slow_start(control, name, args, fn, bounds):  # start_run is late to the lock unless the calls run in order
        call = plain(control, name, args, fn, bounds)
        return (lambda **kw: (time.sleep(0.2), call(**kw))[1]) if name == "start_run" else call

    monkeypatch.setattr(chat_tools, "_guarded", slow_start)
    chat = open_session([[ToolCall.of("start_run", task="numeric", optimizer="search"),
                          ToolCall.of("run_steps", steps=1)], "Started and ran."])
    assert chat.send("start a run and run a step") == "Started and ran."
    assert tool_results(chat, "run_steps")[0].startswith(f"Ran 1 step(s) of run {chat.run_id}")


def test_a_session_that_cannot_find_its_run_is_not_kept(open_session, workdir):
    from agents.chat import ChatSession
    from trace_core.errors import ConfigError

    open_session(["Hi."]).send("hello")
    with pytest.raises(ConfigError, match="no run 'typo'"):
        open_session([], run_id="typo")
    assert len(ChatSession.sessions(workdir / "chat.db")) == 1  # `--session last` still finds the real one
