"""Local and OpenAI-compatible servers: structured output asked for and refused, replies cut
at the token limit, fewer choices than asked, settings from the environment, and a log
that records what was really sent."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from trace_core.errors import ConfigError
from trace_core.llm import BadRequest, LiteLLM, LLMTimeout, ServerError, llm_from_env, resolve_llm
from trace_core.llm.env import env_settings
from trace_core.testing.pytest_plugin import openai_server  # noqa: F401  (fixture)


class Answer(BaseModel):
    city: str


def make(server, **kw) -> LiteLLM:
    return LiteLLM("openai/local", api_base=server.url, api_key="sk-local-0123456789", retry=False, **kw)


@pytest.mark.parametrize("setting", [True, "auto"])
def test_a_refused_schema_falls_back_once_and_is_remembered(openai_server, tmp_path, setting):
    openai_server.refuse_response_format = True
    openai_server.reply = '{"city": "Paris"}'
    llm = make(openai_server, structured_output=setting, log_path=tmp_path / "calls.jsonl")
    assert llm.sends_schema
    assert llm.complete("where?", response_format=Answer).value == Answer(city="Paris")
    assert llm.complete("where?", response_format=Answer).value == Answer(city="Paris")
    sent = [("response_format" in r) for r in openai_server.requests]
    assert sent == [True, False, False] and not llm.sends_schema  # probed once, then remembered
    first, second = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    for record in (first, second):  # the log says what went out: the schema in the prompt, no response_format
        assert "response_format" not in record and record["schema_in_prompt"] == "Answer"
        assert '"city"' in record["messages"][-1]["content"]


def test_a_schema_the_server_takes_is_sent_and_logged(openai_server, tmp_path):
    openai_server.reply = '{"city": "Rome"}'
    llm = make(openai_server, structured_output="auto", log_path=tmp_path / "calls.jsonl")
    assert llm.complete("where?", response_format=Answer).value == Answer(city="Rome") and llm.sends_schema
    record = json.loads((tmp_path / "calls.jsonl").read_text())
    assert record["response_format"]["name"] == "Answer" and openai_server.requests[0]["response_format"]
    off = make(openai_server, structured_output=False)
    assert not off.sends_schema and off.complete("where?", response_format=Answer).value == Answer(city="Rome")
    assert "response_format" not in openai_server.requests[-1]


def test_a_fallback_that_fails_too_leaves_the_schema_on(openai_server):
    openai_server.refuse_response_format = True
    openai_server.script.extend(["normal", "500"])  # refused, then the resent call fails for another reason
    llm = make(openai_server, structured_output="auto")
    with pytest.raises(ServerError):
        llm.complete("where?", response_format=Answer)
    assert llm.sends_schema and len(openai_server.requests) == 2
    with pytest.raises(BadRequest, match="structured_output"):
        make(openai_server, structured_output="sometimes")


def test_length_and_fewer_choices_come_back_as_the_server_sent_them(openai_server):
    openai_server.mode = "length"
    openai_server.max_choices = 1
    c = make(openai_server).complete("hi", n=3, max_tokens=7)
    assert c.finish_reasons == ("length",) and len(c.texts) == 1
    assert openai_server.requests[0]["max_tokens"] == 7 and openai_server.requests[0]["n"] == 3


def test_timeout_and_settings_come_from_the_environment(monkeypatch, openai_server):
    env = {"TRACETUNE_LLM": "openai/local", "TRACETUNE_LLM_API_BASE": openai_server.url,
           "TRACETUNE_LLM_TIMEOUT": "900", "TRACETUNE_LLM_STRUCTURED_OUTPUT": "false", "OPENAI_API_KEY": "none"}
    llm = llm_from_env(env)
    assert llm.backend.timeout == 900.0 and llm.backend.api_base == openai_server.url and not llm.sends_schema
    assert llm.complete("hi").text.startswith("Hello")
    monkeypatch.setenv("TRACETUNE_LLM_TIMEOUT", "1200")
    assert resolve_llm({"model": "openai/local", "api_base": openai_server.url}).backend.timeout == 1200.0
    assert resolve_llm({"model": "openai/local", "api_base": openai_server.url, "timeout": 5}).backend.timeout == 5
    with pytest.raises(ConfigError, match="TRACETUNE_LLM_TIMEOUT"):
        env_settings({"TRACETUNE_LLM_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="true, false, auto"):
        env_settings({"TRACETUNE_LLM_STRUCTURED_OUTPUT": "maybe"})


def test_a_timeout_says_how_a_user_raises_it(openai_server):
    openai_server.mode = "slow"
    openai_server.delay_s = 1.0
    with pytest.raises(LLMTimeout, match="TRACETUNE_LLM_TIMEOUT"):
        make(openai_server, timeout=0.2).complete("hi")
