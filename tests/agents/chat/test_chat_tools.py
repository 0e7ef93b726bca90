"""Tool guardrails: invalid arguments come back to the model as text that says what to fix,
values go through the parameter's space, files stay inside the working directory."""

from __future__ import annotations

import json

from agents.chat import TOOL_NAMES
from agents.store import RunStore
from trace_core.llm import ScriptedLLM, ToolCall

START = ToolCall.of("start_run", task="numeric", optimizer="search")


def test_invalid_tool_arguments_are_explained_to_the_model(open_session, tool_results):
    model = ScriptedLLM([
        ToolCall.of("run_steps", steps=1),  # no run yet
        ToolCall.of("run_steps", steps=0),
        ToolCall(name="run_steps", arguments="{steps: two"),
        ToolCall.of("run_steps", step=2),
        ToolCall.of("launch_missiles"),
        START, ToolCall.of("set_parameter", name="x", value=99), ToolCall.of("set_parameter", name="z", value=1),
        ToolCall.of("start_run", task="no_such_task"),
        "I could not do that.",
    ])
    chat = open_session(model)
    assert chat.send("run a step") == "I could not do that."
    no_run, too_few, not_json, misspelt = tool_results(chat, "run_steps")
    assert no_run.startswith("error: no run is selected: start one with start_run")
    assert "steps: Input should be greater than or equal to 1" in too_few
    assert "run_steps takes: steps (required" in too_few and "Fix the arguments" in too_few
    assert "were not a JSON object ('{steps: two')" in not_json
    assert "steps: Field required" in misspelt and "step: Extra inputs are not permitted" in misspelt
    assert "launch_missiles is not a valid tool" in tool_results(chat, "launch_missiles")[0]
    out_of_space, unknown = tool_results(chat, "set_parameter")
    assert out_of_space == "error: x: 99 is out of range; a number between -10 and 10"
    assert unknown.startswith("error: unknown parameter 'z'; the parameters are ['x', 'y']")
    assert "unknown task 'no_such_task'; registered tasks:" in tool_results(chat, "start_run")[1]
    # the model read every message, and the run has only its starting step
    assert model.calls[-1][-1]["content"] == tool_results(chat)[-1]
    assert [s["step"] for s in RunStore(chat.store.url).steps(chat.run_id)] == [0]


def test_values_go_through_the_space_and_files_stay_in_the_working_directory(open_session, tool_results, workdir):
    chat = open_session([
        START, ToolCall.of("set_parameter", name="x", value="2.5", reason="the user's guess"),
        ToolCall.of("export_best", path="/tmp/best.json"), ToolCall.of("export_best", path="../best.json"),
        ToolCall.of("export_best", path="best.txt"), ToolCall.of("export_best", path="out/best.json"),
        ToolCall.of("export_best", path="out/best.json"), ToolCall.of("render_report"), "Done.",
    ])
    chat.send("set x to 2.5, export the best values and write the report")
    assert tool_results(chat, "set_parameter")[0].startswith("Set x as step 1; its evaluation scored 4.375")
    store = RunStore(chat.store.url)
    assert store.steps(chat.run_id)[-1]["values"] == {"x": 2.5, "y": 0.0}  # "2.5" coerced by Float
    absolute, parent, suffix, written, exists = tool_results(chat, "export_best")
    assert "is not a relative path" in absolute and "leaves the working directory" in parent
    assert "must end with .json" in suffix and "exists; pass overwrite=true" in exists
    assert written.startswith("Wrote the best values (score 4.375)")
    assert json.loads((workdir / "out" / "best.json").read_text()) == {"x": 2.5, "y": 0.0}
    assert not (workdir.parent / "best.json").exists()
    report = next((workdir / ".tracetune" / "reports").glob(f"*{chat.run_id}.html"))
    assert "<html" in report.read_text()[:500].lower()


def test_no_tool_runs_commands_or_code():
    assert not [n for n in TOOL_NAMES if any(w in n for w in ("shell", "exec", "python", "eval", "command"))]
    assert {"propose", "accept", "reject", "rollback", "set_budget", "show_step"} <= set(TOOL_NAMES)


def test_session_limits_cap_the_steps_a_run_may_take(open_session, tool_results):
    chat = open_session([
        START, ToolCall.of("set_budget", max_steps=1, chat_max_tokens=100000), ToolCall.of("run_steps", steps=3),
        ToolCall.of("run_steps", steps=1), ToolCall.of("show_costs"), "Limited.",
    ])
    chat.send("at most one step in total, then try three")
    assert "max_steps=1" in tool_results(chat, "set_budget")[0]
    capped, refused = tool_results(chat, "run_steps")
    assert capped.startswith("Ran 1 step(s)") and "cut to 1 by the session limit max_steps" in capped
    assert refused.startswith("error: the session limit max_steps=1 is reached")
    assert chat.chat_budget.max_tokens == 100000 and "max_tokens=100000" in tool_results(chat, "show_costs")[0]
