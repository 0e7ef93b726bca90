"""Each middleware on its own (around ScriptedLLM), then composed by wrap()."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import pytest

import trace_core.llm.retry as retry_module
from trace_core.errors import ConfigError
from trace_core.llm import (AuthError, BaseLLM, Budget, BudgetExceeded, BudgetLLM, Cache, CacheLLM, Completion,
                            LimitLLM, LogLLM, RateLimited, Retry, RetryLLM, ScriptedLLM, ServerError, Slots, wrap)
from trace_core.llm.records import Request


@pytest.fixture
def sleeps(monkeypatch):
    """Record the retry layer's sleeps instead of sleeping."""
    record: list[float] = []
    monkeypatch.setattr(retry_module, "time", types.SimpleNamespace(sleep=record.append))
    return record


# -- cache --------------------------------------------------------------------------------------------------------
def test_cache_hit_is_free_and_keyed_by_parameters(tmp_path):
    inner = ScriptedLLM(["a", "b", "c"])
    llm = CacheLLM(inner, Cache(tmp_path / "c.sqlite"))
    miss = llm.complete("q", temperature=0)
    hit = llm.complete("q", temperature=0)
    assert (miss.text, miss.cached) == ("a", False)
    assert (hit.text, hit.cached, hit.cost_usd, hit.usage.total_tokens) == ("a", True, 0.0, 0)
    assert llm.complete("q", temperature=1).text == "b"  # other sampling parameters: a miss
    assert asyncio.run(llm.acomplete("q", temperature=0)).cached
    streamed = list(llm.stream("q", temperature=0))
    assert streamed[0] == "a" and streamed[-1].cached
    assert [x for x in llm.stream("new")][-1].text == "c"
    assert llm.complete("new").cached and len(inner.calls) == 3 and len(llm.cache) == 3


def test_cache_read_only_serves_hits_and_never_writes(tmp_path):
    path = tmp_path / "c.sqlite"
    CacheLLM(ScriptedLLM(["stored"]), Cache(path)).complete("known")
    ro = Cache(path, read_only=True)
    llm = CacheLLM(ScriptedLLM(["fresh", "fresh again"]), ro)
    assert llm.complete("known").cached
    assert llm.complete("unknown").text == "fresh"
    assert llm.complete("unknown").text == "fresh again" and len(ro) == 1
    with pytest.raises(ConfigError, match="does not exist"):
        Cache(tmp_path / "missing.sqlite", read_only=True)


def test_read_only_cache_refuses_clear_and_tolerates_an_empty_file(tmp_path):
    path = tmp_path / "c.sqlite"
    wrap(ScriptedLLM(["kept"]), cache=Cache(path)).complete("q")
    ro = Cache(path, read_only=True)
    with pytest.raises(ConfigError, match="read-only"):
        ro.clear()
    assert len(ro) == 1
    (tmp_path / "empty.sqlite").touch()  # a file without the table yet: every call misses
    empty = Cache(tmp_path / "empty.sqlite", read_only=True)
    assert len(empty) == 0
    assert wrap(ScriptedLLM(["fresh"]), cache=empty).complete("q").text == "fresh"


def test_cache_true_uses_the_default_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACETUNE_CACHE_DIR", str(tmp_path / "cachedir"))
    llm = wrap(ScriptedLLM(["x"]), cache=True)
    assert llm.complete("q").text == "x" and llm.complete("q").cached
    assert (tmp_path / "cachedir" / "llm.sqlite").exists()


# -- retry --------------------------------------------------------------------------------------------------------
def test_retry_retries_transient_errors_with_growing_backoff(sleeps):
    inner = ScriptedLLM([ServerError("a"), ServerError("b"), "ok"])
    llm = RetryLLM(inner, Retry(attempts=4, base_delay_s=0.1, max_delay_s=10, jitter=0))
    assert llm.complete("q").text == "ok"
    assert sleeps == [0.1, 0.2] and len(inner.calls) == 3


def test_retry_gives_up_after_attempts_and_never_retries_fatal(sleeps):
    inner = ScriptedLLM([ServerError("x")] * 10)
    with pytest.raises(ServerError) as info:
        RetryLLM(inner, Retry(attempts=3, base_delay_s=0.01)).complete("q")
    assert len(inner.calls) == 3 and "gave up after 3 of 3 attempts" in info.value.__notes__[0]
    auth = ScriptedLLM([AuthError("bad key"), "never"])
    with pytest.raises(AuthError):
        RetryLLM(auth, Retry()).complete("q")
    assert len(auth.calls) == 1 and len(sleeps) == 2


def test_retry_honours_retry_after_and_gives_up_on_long_waits(sleeps):
    inner = ScriptedLLM([RateLimited("slow", retry_after=2.5), "ok"])
    assert RetryLLM(inner, Retry(base_delay_s=0.01, max_delay_s=5)).complete("q").text == "ok"
    assert sleeps == [2.5]
    too_long = ScriptedLLM([RateLimited("slow", retry_after=60), "never"])
    with pytest.raises(RateLimited):
        RetryLLM(too_long, Retry(max_delay_s=5)).complete("q")
    assert len(too_long.calls) == 1


def test_retry_async_and_stream(sleeps):
    llm = RetryLLM(ScriptedLLM([ServerError("x"), "async ok"]), Retry(base_delay_s=0.0001))
    assert asyncio.run(llm.acomplete("q")).text == "async ok"
    streamed = list(RetryLLM(ScriptedLLM([ServerError("x"), "s ok"]), Retry(base_delay_s=0)).stream("q"))
    assert streamed[-1].text == "s ok"

    class MidStream(BaseLLM):
        model = "mid"
        tries = 0

        def _complete(self, request: Request) -> Completion:
            return Completion(texts=("x",))

        def _stream(self, request):
            self.tries += 1
            yield "partial "
            raise ServerError("cut")

    inner = MidStream()
    with pytest.raises(ServerError):
        list(RetryLLM(inner, Retry(base_delay_s=0)).stream("q"))
    assert inner.tries == 1  # something was already yielded: no retry


def test_retry_policy_validation():
    with pytest.raises(ValueError):
        Retry(attempts=0)
    with pytest.raises(ValueError):
        Retry(jitter=2)
    delays = [Retry(base_delay_s=1, jitter=0.5).delay(0, ServerError("x")) for _ in range(50)]
    assert all(0.5 <= d <= 1.0 for d in delays) and len(set(delays)) > 1


# -- limit --------------------------------------------------------------------------------------------------------
class Tracking(BaseLLM):
    """Counts calls in flight."""

    model = "tracking"

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def _enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def _leave(self) -> None:
        with self.lock:
            self.now -= 1

    def _complete(self, request: Request) -> Completion:
        self._enter()
        time.sleep(0.01)
        self._leave()
        return Completion(texts=("t",))

    async def _acomplete(self, request: Request) -> Completion:
        self._enter()
        await asyncio.sleep(0.01)
        self._leave()
        return Completion(texts=("a",))


def test_limit_threads_and_asyncio_share_the_slots():
    inner = Tracking()
    llm = LimitLLM(inner, 2)

    async def many():
        return await asyncio.gather(*(llm.acomplete("q") for _ in range(8)))

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(llm.complete, "q") for _ in range(12)]
        results = asyncio.run(many())
        texts = [f.result().text for f in futures]
    assert texts == ["t"] * 12 and [r.text for r in results] == ["a"] * 8
    assert inner.peak == 2 and llm.slots.in_use == 0


def test_limit_cancelled_waiter_does_not_leak_a_slot():
    slots = Slots(1)

    async def scenario():
        await slots.aacquire()
        waiter = asyncio.ensure_future(slots.aacquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        slots.release()
        await asyncio.wait_for(slots.aacquire(), 1)
        slots.release()

    asyncio.run(scenario())
    assert slots.in_use == 0
    with pytest.raises(ValueError):
        Slots(0)


# -- budget -------------------------------------------------------------------------------------------------------
def test_budget_refuses_before_sending():
    inner = ScriptedLLM(["a", "b"])
    budget = Budget(max_tokens=100)
    llm = BudgetLLM(inner, budget)
    with pytest.raises(BudgetExceeded) as info:
        llm.complete("q", max_tokens=500)
    assert info.value.limit == "max_tokens" and inner.calls == []
    with pytest.raises(BudgetExceeded):
        llm.complete("q")  # no max_tokens: the default completion allowance (512) does not fit either
    assert inner.calls == [] and budget.spent["tokens"] == 0
    reply = llm.complete("q", max_tokens=20)
    assert budget.spent["tokens"] == reply.usage.total_tokens and budget.spent["calls"] == 1


def test_budget_counts_tokens_exactly_only_near_the_limit():
    class Counting(ScriptedLLM):
        counted = 0

        def count_tokens(self, messages):
            self.counted += 1
            return 10

    long_prompt = "word " * 200  # 1,000 bytes: the cheap bound is far above the 10 counted tokens
    roomy = Counting(["a"])
    BudgetLLM(roomy, Budget(max_tokens=100_000)).complete(long_prompt, max_tokens=5)
    assert roomy.counted == 0
    tight = Counting(["b"])
    assert BudgetLLM(tight, Budget(max_tokens=100)).complete(long_prompt, max_tokens=5).text == "b"
    assert tight.counted == 1


def test_budget_calls_shared_by_threads_and_refund_on_error():
    budget = Budget(max_calls=5)
    llm = BudgetLLM(ScriptedLLM(lambda m: "ok"), budget)

    def call(_):
        try:
            return llm.complete("q", max_tokens=5).text
        except BudgetExceeded:
            return "refused"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, range(12)))
    assert results.count("ok") == 5 and budget.spent["calls"] == 5

    failing = Budget(max_tokens=10_000)
    with pytest.raises(ServerError):
        BudgetLLM(ScriptedLLM([ServerError("x")]), failing).complete("q")
    assert failing.spent["tokens"] == 0 and failing.spent["calls"] == 1


def test_budget_dollars_use_the_price_estimate():
    class Priced(ScriptedLLM):
        def estimate_cost(self, prompt_tokens, completion_tokens):
            return (prompt_tokens + completion_tokens) * 0.001

    inner = Priced(["a"])
    with pytest.raises(BudgetExceeded) as info:
        BudgetLLM(inner, Budget(max_usd=0.05)).complete("q", max_tokens=100)
    assert info.value.limit == "max_usd" and inner.calls == []


# -- log ----------------------------------------------------------------------------------------------------------
def test_log_records_calls_and_errors_with_keys_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("SOMEPROVIDER_API_KEY", "envsecret-0123456789")
    path = tmp_path / "log" / "calls.jsonl"
    llm = LogLLM(ScriptedLLM(["fine", ServerError("failed with key sk-leakedkey123456")]), path)
    llm.complete("my key is envsecret-0123456789 and sk-promptkey987654", max_tokens=7)
    with pytest.raises(ServerError):
        llm.complete("second")
    text = path.read_text()
    for secret in ("envsecret-0123456789", "sk-promptkey987654", "sk-leakedkey123456"):
        assert secret not in text
    first, second = [json.loads(line) for line in text.splitlines()]
    assert first["texts"] == ["fine"] and first["max_tokens"] == 7 and first["cached"] is False
    assert first["usage"]["prompt_tokens"] > 0 and "latency_s" in first
    assert second["error"]["type"] == "ServerError" and second["messages"][0]["content"] == "second"


# -- composition --------------------------------------------------------------------------------------------------
def test_wrap_composes_cache_outside_budget_and_log_outside_all(tmp_path, sleeps):
    inner = ScriptedLLM([ServerError("flaky"), "answer"])
    budget = Budget(max_calls=2)
    log_path = tmp_path / "calls.jsonl"
    llm = wrap(inner, cache=tmp_path / "c.sqlite", retry=Retry(base_delay_s=0.01), max_concurrency=2,
               budget=budget, log_path=log_path)
    assert llm.complete("q").text == "answer"
    assert budget.spent["calls"] == 2  # the retry is a request too, and is charged
    assert llm.complete("q").cached  # the budget (2 calls, spent) does not refuse a free cache hit
    with pytest.raises(BudgetExceeded):
        llm.complete("other")
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [line["cached"] for line in lines[:2]] == [False, True] and lines[2]["error"]["type"] == "BudgetExceeded"
    assert len(inner.calls) == 2 and len(sleeps) == 1
    assert wrap(inner) is inner
    with pytest.raises(TypeError, match="not an LLM"):
        wrap(object())
