"""The real litellm path against the loopback OpenAI-compatible server, in every mode."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from trace_core.llm import (AuthError, BadRequest, Budget, BudgetExceeded, Completion, LiteLLM, LLMConnectionError,
                            LLMTimeout, RateLimited, Retry, ServerError, UnparseableReply, llm_from_env,
                            resolve_llm)
from trace_core.testing.pytest_plugin import openai_server  # noqa: F401  (fixture)

KEY = "sk-loopback-SECRET-0123456789"
FAST = Retry(attempts=3, base_delay_s=0.001, max_delay_s=0.5)


class Weather(BaseModel):
    """Look up the weather of a city."""

    city: str


class Answer(BaseModel):
    city: str
    confidence: float


def make(server, model: str = "openai/loopback", **kw) -> LiteLLM:
    kw.setdefault("retry", FAST)
    return LiteLLM(model, api_base=server.url, api_key=KEY, **kw)


def test_normal_answer_sync_async_and_n(openai_server):
    llm = make(openai_server)
    c = llm.complete([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
                     temperature=0.2, max_tokens=30, seed=7)
    assert c.text == "Hello from the loopback server." and not c.cached
    assert c.usage.prompt_tokens > 0 and c.usage.completion_tokens > 0 and c.latency_s > 0
    body = openai_server.requests[-1]
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.2, 30, 7)
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert openai_server.headers[-1]["authorization"] == f"Bearer {KEY}"
    assert asyncio.run(llm.acomplete("hi")).text == c.text
    assert llm.complete("hi", n=3).texts == (c.text,) * 3


def test_streamed_answer(openai_server):
    llm = make(openai_server)
    items = list(llm.stream("hi"))
    deltas, final = items[:-1], items[-1]
    assert len(deltas) > 1 and all(isinstance(d, str) for d in deltas)
    assert isinstance(final, Completion) and "".join(deltas) == final.text == "Hello from the loopback server."
    assert openai_server.requests[-1]["stream"] is True
    openai_server.mode = "stream"  # a server that streams a plain request: a typed, retryable error
    with pytest.raises(ServerError, match="invalid response"):
        make(openai_server, retry=False).complete("hi")
    assert list(llm.stream("hi"))[-1].text == final.text


def test_tool_calls_plain_and_streamed(openai_server):
    openai_server.mode = "tool_call"
    openai_server.tool_arguments = {"city": "Paris"}
    llm = make(openai_server)
    raw_tool = {"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}}
    c = llm.complete("weather in Paris?", tools=[Weather, raw_tool])
    call = c.tool_calls[0][0]
    assert (call.name, call.args, c.finish_reasons) == ("Weather", {"city": "Paris"}, ("tool_calls",))
    sent = openai_server.requests[-1]["tools"]
    assert [t["function"]["name"] for t in sent] == ["Weather", "clock"]
    assert sent[0]["function"]["description"] == "Look up the weather of a city."
    streamed = list(llm.stream("weather?", tools=[Weather]))[-1]
    assert streamed.tool_calls[0][0].args == {"city": "Paris"}


def test_structured_output_in_prompt_or_native(openai_server):
    openai_server.reply = '{"city": "Paris", "confidence": 0.9}'
    local = make(openai_server)  # an unknown local model: the schema goes in the prompt
    assert local.complete("where?", response_format=Answer).parsed == (Answer(city="Paris", confidence=0.9),)
    body = openai_server.requests[-1]
    assert "response_format" not in body and '"confidence"' in body["messages"][-1]["content"]
    native = make(openai_server, "openai/gpt-4o-mini")  # known to support JSON-schema output
    c = native.complete("where?", response_format=Answer)
    assert c.value == Answer(city="Paris", confidence=0.9) and c.cost_usd is not None and c.cost_usd > 0
    assert openai_server.requests[-1]["response_format"]["type"] == "json_schema"
    openai_server.reply = "Paris, I think"
    with pytest.raises(UnparseableReply) as info:
        local.complete("where?", response_format=Answer)
    assert info.value.raw == "Paris, I think"


def test_faults_are_retried_within_the_policy(openai_server):
    openai_server.script.extend(["429", "500", "normal"])
    llm = make(openai_server)
    assert llm.complete("hi").text.startswith("Hello")
    assert len(openai_server.requests) == 3
    openai_server.reset("500")
    with pytest.raises(ServerError) as info:
        llm.complete("hi")
    assert len(openai_server.requests) == FAST.attempts and info.value.retryable
    assert "loopback" in str(info.value) and "HTTP 500" in str(info.value)


def test_rate_limit_exposes_retry_after_and_long_waits_are_not_retried(openai_server):
    openai_server.reset("429")
    openai_server.retry_after = "120"
    with pytest.raises(RateLimited) as info:
        make(openai_server).complete("hi")
    assert info.value.retry_after == 120.0 and info.value.status == 429
    assert len(openai_server.requests) == 1  # 120 s is beyond max_delay_s: give up at once


def test_malformed_and_slow_replies(openai_server):
    openai_server.mode = "malformed"
    with pytest.raises(ServerError, match="loopback"):
        make(openai_server, retry=False).complete("hi")
    openai_server.reset("slow")
    openai_server.delay_s = 0.5
    with pytest.raises(LLMTimeout):
        make(openai_server, retry=False, timeout=0.1).complete("hi")
    openai_server.reset("slow")
    openai_server.delay_s = 0.01
    assert make(openai_server).complete("hi").text.startswith("Hello")


def test_budget_refusal_happens_before_sending(openai_server):
    budget = Budget(max_tokens=50)
    llm = make(openai_server, budget=budget)
    with pytest.raises(BudgetExceeded):
        llm.complete("hi", max_tokens=100)
    assert openai_server.requests == [] and budget.spent["tokens"] == 0
    assert llm.complete("hi", max_tokens=5).text.startswith("Hello")
    assert budget.spent["calls"] == 1 and 0 < budget.spent["tokens"] <= 50


def test_keys_never_reach_the_log_or_the_error(openai_server, tmp_path):
    log_path = tmp_path / "calls.jsonl"
    llm = make(openai_server, log_path=log_path, retry=False)
    llm.complete("hello")
    openai_server.mode = "500"
    openai_server.error_message = f"the key {KEY} is not allowed here"  # a provider echoing the key
    with pytest.raises(ServerError) as info:
        llm.complete("hello again")
    assert openai_server.headers[-1]["authorization"] == f"Bearer {KEY}"  # it was really sent
    assert KEY not in str(info.value) and "not allowed here" in str(info.value)
    assert KEY not in repr(llm) and KEY not in log_path.read_text()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert lines[0]["texts"] == ["Hello from the loopback server."] and lines[1]["error"]["type"] == "ServerError"


def test_configuration_errors_are_typed(monkeypatch):
    with pytest.raises(BadRequest, match="unknown model string 'nosuchprovider/x'"):
        LiteLLM("nosuchprovider/x")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(AuthError, match="ANTHROPIC_API_KEY"):
        LiteLLM("anthropic/claude-3-5-haiku-latest")
    unreachable = LiteLLM("openai/x", api_base="http://127.0.0.1:9/v1", retry=Retry(attempts=2, base_delay_s=0.001))
    with pytest.raises(LLMConnectionError) as info:
        unreachable.complete("hi")
    assert info.value.retryable and "openai/x" in str(info.value)


def test_llm_from_env_and_resolve_llm(openai_server, monkeypatch):
    monkeypatch.delenv("TRACETUNE_LLM", raising=False)
    assert llm_from_env() is None and resolve_llm(None) is None and resolve_llm("none") is None
    env = {"TRACETUNE_LLM": "openai/loopback", "TRACETUNE_LLM_API_BASE": openai_server.url,
           "TRACETUNE_LLM_API_KEY": KEY}
    assert llm_from_env(env, retry=False).complete("hi").text.startswith("Hello")
    llm = resolve_llm({"model": "openai/loopback", "api_base": openai_server.url, "api_key": KEY,
                       "retry": {"attempts": 2, "base_delay_s": 0.001}, "max_concurrency": 2})
    openai_server.script.extend(["500", "normal"])
    assert llm.complete("hi").text.startswith("Hello") and len(openai_server.requests) == 3
    from trace_core.errors import ConfigError

    with pytest.raises(ConfigError, match="no 'model'"):
        resolve_llm({"api_base": openai_server.url})
    with pytest.raises(ConfigError, match="bad retry"):
        resolve_llm({"model": "openai/x", "api_base": openai_server.url, "retry": {"tries": 3}})
    with pytest.raises(ConfigError):
        resolve_llm(42)


def test_concurrency_limit_seen_by_the_server(openai_server):
    from concurrent.futures import ThreadPoolExecutor

    openai_server.mode = "slow"
    openai_server.delay_s = 0.05
    llm = make(openai_server, max_concurrency=2)
    with ThreadPoolExecutor(6) as pool:
        texts = list(pool.map(lambda i: llm.complete(f"q{i}").text, range(6)))
    assert len(set(texts)) == 1 and len(openai_server.requests) == 6
    assert openai_server.peak_in_flight == 2


def test_a_client_seed_goes_out_in_request_order_and_a_request_seed_wins(openai_server):
    llm = make(openai_server, seed=5)
    for _ in range(3):
        llm.complete("the same prompt")
    assert [r["seed"] for r in openai_server.requests[-3:]] == [5, 6, 7]  # a repeated prompt still varies
    llm.complete("hi", seed=42)
    assert openai_server.requests[-1]["seed"] == 42
    make(openai_server, seed=5).complete("the same prompt")
    assert openai_server.requests[-1]["seed"] == 5  # a new client (a run made again) starts where the first did
    make(openai_server).complete("hi")
    assert "seed" not in openai_server.requests[-1]
