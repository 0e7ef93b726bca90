"""Records, structured output helpers and redaction of the LLM layer."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from trace_core.llm import Completion, Request, ToolCall, UnparseableReply, parse_reply, tool_schema
from trace_core.llm.base import make_request
from trace_core.llm.redact import REDACTED, redact, redact_text


class Answer(BaseModel):
    """The final answer."""

    city: str
    confidence: float


def test_completion_pads_tool_calls_and_is_frozen():
    c = Completion(texts=("a", "b"), tool_calls=((ToolCall.of("f", x=1),),))
    assert c.tool_calls[1] == () and c.tool_calls[0][0].args == {"x": 1}
    assert c.text == "a" and c.value == "a"
    with pytest.raises(Exception):
        c.texts = ("z",)  # type: ignore[misc]
    again = Completion.model_validate_json(c.model_dump_json())
    assert again == c


def test_tool_call_args_errors_keep_raw_text():
    with pytest.raises(UnparseableReply) as info:
        ToolCall(name="f", arguments="{not json").args
    assert info.value.raw == "{not json" and not info.value.retryable
    with pytest.raises(UnparseableReply):
        ToolCall(name="f", arguments="[1, 2]").args


def test_request_key_depends_on_what_is_sent():
    base = make_request("hi", temperature=0.0)
    assert base.key("m") == make_request([{"role": "user", "content": "hi"}], temperature=0.0).key("m")
    assert base.key("m") != base.key("other-model")
    assert base.key("m") != make_request("hi", temperature=0.5).key("m")
    assert base.key("m") != make_request("hi", temperature=0.0, tools=[Answer]).key("m")
    assert base.key("m") != make_request("hi", temperature=0.0, response_format=Answer).key("m")
    assert base.key("m") != make_request("hi", temperature=0.0, seed=1).key("m")
    # a restricted key ignores the other fields
    fields = ("messages",)
    assert base.key(None, fields=fields) == make_request("hi", temperature=0.9).key(None, fields=fields)


def test_make_request_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n must be"):
        make_request("x", n=0)
    with pytest.raises(TypeError, match="pydantic model class"):
        make_request("x", response_format={"type": "json_object"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role"):
        make_request([{"content": "no role"}])


def test_parse_reply_accepts_fences_and_surrounding_text():
    assert parse_reply('```json\n{"city": "Oslo", "confidence": 1}\n```', Answer).city == "Oslo"
    assert parse_reply('Sure! {"city": "Rome", "confidence": 0.2} Hope it helps', Answer).city == "Rome"
    with pytest.raises(UnparseableReply) as info:
        parse_reply('{"city": "Rome"}', Answer, llm_model="m1")
    assert "confidence" in str(info.value) and "m1" in str(info.value)
    assert info.value.raw == '{"city": "Rome"}'


def test_tool_schema_from_model_and_dict():
    schema = tool_schema(Answer)
    assert schema["function"]["name"] == "Answer"
    assert schema["function"]["description"] == "The final answer."
    assert schema["function"]["parameters"]["required"] == ["city", "confidence"]
    raw = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert tool_schema(raw) == raw
    with pytest.raises(ValueError, match="OpenAI tool schema"):
        tool_schema({"name": "f"})
    with pytest.raises(TypeError):
        tool_schema(print)  # type: ignore[arg-type]


def test_redaction_of_fields_patterns_and_known_secrets(monkeypatch):
    monkeypatch.setenv("MYPROVIDER_API_KEY", "plainsecretvalue42")
    text = "key plainsecretvalue42, Authorization: Bearer abc.def-ghi, sk-abcdefghijklmnop, api_key=zzz999"
    out = redact_text(text, ["customsecret99"])
    for secret in ("plainsecretvalue42", "abc.def-ghi", "sk-abcdefghijklmnop", "zzz999"):
        assert secret not in out
    record = {"api_key": "anything", "headers": {"Authorization": "Basic xyz"}, "max_tokens": 10,
              "messages": [{"content": "my key is customsecret99"}]}
    clean = redact(record, ["customsecret99"])
    assert clean["api_key"] == REDACTED and clean["headers"]["Authorization"] == REDACTED
    assert clean["max_tokens"] == 10 and "customsecret99" not in str(clean)
    assert isinstance(Request(messages=[]).payload(), dict)
