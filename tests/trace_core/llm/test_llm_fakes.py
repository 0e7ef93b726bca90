"""ScriptedLLM and ReplayLLM: the offline LLMs that ship with the library."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from trace_core.llm import (Completion, FatalLLMError, ReplayLLM, ReplayMissing, ScriptedLLM, ServerError, ToolCall,
                            UnparseableReply)
from trace_core.llm.base import LLM


class Plan(BaseModel):
    steps: list[str]


def test_scripted_list_queue_records_calls_and_runs_out():
    llm = ScriptedLLM(["one", "two", "three"])
    assert isinstance(llm, LLM)
    assert llm.complete("first").text == "one"
    both = llm.complete([{"role": "system", "content": "s"}, {"role": "user", "content": "second"}], n=2)
    assert both.texts == ("two", "three")
    assert [m[-1]["content"] for m in llm.calls] == ["first", "second"]
    assert llm.requests[1].n == 2
    with pytest.raises(FatalLLMError, match="ran out of replies.*'again'"):
        llm.complete("again")


def test_scripted_function_and_substring_rules():
    echo = ScriptedLLM(lambda messages: messages[-1]["content"].upper())
    assert echo.complete("shout").text == "SHOUT"
    rules = ScriptedLLM({"capital": "Paris", "count": ["1", "2"]})
    assert rules.complete("the capital of France").text == "Paris"
    assert [rules.complete("count").text for _ in range(3)] == ["1", "2", "2"]
    with pytest.raises(FatalLLMError, match="no rule for the prompt 'unrelated'"):
        rules.complete("unrelated")


def test_scripted_tool_calls_models_completions_and_exceptions():
    call = ToolCall.of("search", query="tracetune")
    llm = ScriptedLLM([call, {"text": "thinking", "tool_calls": [{"name": "calc", "arguments": {"x": 2}}]},
                       Plan(steps=["a", "b"]), Completion(texts=("whole",), model="x"), ServerError("boom")])
    first = llm.complete("q", tools=[Plan])
    assert first.text == "" and first.tool_calls[0][0].args == {"query": "tracetune"}
    second = llm.complete("q")
    assert second.text == "thinking" and second.tool_calls[0][0].name == "calc"
    assert second.finish_reasons == ("tool_calls",)
    assert llm.complete("q", response_format=Plan).parsed == (Plan(steps=["a", "b"]),)
    assert llm.complete("q").text == "whole"
    with pytest.raises(ServerError):
        llm.complete("q")
    with pytest.raises(TypeError, match="scripted reply"):
        ScriptedLLM([3.5]).complete("q")  # type: ignore[list-item]


def test_scripted_schema_failure_keeps_raw_text():
    with pytest.raises(UnparseableReply) as info:
        ScriptedLLM(["no json here"]).complete("plan?", response_format=Plan)
    assert info.value.raw == "no json here"


def test_scripted_stream_and_async():
    llm = ScriptedLLM(["a b c", "async answer"])
    items = list(llm.stream("go"))
    assert items[:-1] == ["a ", "b ", "c"] and isinstance(items[-1], Completion)
    assert "".join(items[:-1]) == items[-1].text
    assert asyncio.run(llm.acomplete("go")).text == "async answer"


def test_replay_records_then_replays_in_order(tmp_path):
    path = tmp_path / "rec.jsonl"
    inner = ScriptedLLM(["first answer", "second answer", "other"], model="inner-model")
    recorder = ReplayLLM(path, inner=inner)
    assert recorder.complete("question").text == "first answer"
    assert recorder.complete("question").text == "second answer"
    assert asyncio.run(recorder.acomplete("another")).text == "other"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 3 and lines[0]["prompt"] == "question" and lines[0]["model"] == "inner-model"

    replay = ReplayLLM(path)
    assert [replay.complete("question").text for _ in range(3)] == ["first answer", "second answer",
                                                                     "second answer"]
    hit = replay.complete("another", temperature=0.7)  # temperature is not part of the recording key
    assert hit.text == "other" and hit.cached and hit.cost_usd == 0.0
    assert replay.model == "inner-model" and len(inner.calls) == 3
    with pytest.raises(ReplayMissing, match="no call for the prompt 'never asked'"):
        replay.complete("never asked")


def test_replay_missing_or_damaged_file(tmp_path):
    with pytest.raises(ReplayMissing, match="does not exist"):
        ReplayLLM(tmp_path / "none.jsonl").complete("x")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ReplayMissing, match="line 1 is damaged"):
        ReplayLLM(bad).complete("x")
