"""The LLM middleware at its limits: retry counts and waits at their edges, the
concurrency limit after errors and streams, and the cache's keys, hits and paths."""

from __future__ import annotations

import asyncio
import logging
import types

import pytest

import trace_core.llm.retry as retry_module
from trace_core.errors import ConfigError
from trace_core.llm import (AuthError, Cache, CacheLLM, Completion, LimitLLM, RateLimited, Retry, RetryLLM,
                            ScriptedLLM, ServerError, Slots)
from trace_core.llm.cache import default_cache_path


@pytest.fixture
def sleeps(monkeypatch):
    record: list[float] = []
    monkeypatch.setattr(retry_module, "time", types.SimpleNamespace(sleep=record.append))
    return record


# -- retry --------------------------------------------------------------------------------------------------------
def test_retry_policy_edges_are_allowed_and_the_refusals_say_why():
    assert Retry(attempts=1).attempts == 1
    assert Retry(jitter=0).jitter == 0 and Retry(jitter=1).jitter == 1
    with pytest.raises(ValueError) as info:
        Retry(attempts=0)
    assert str(info.value) == "Retry.attempts must be at least 1 (the first try), got 0"
    for jitter in (-0.1, 1.5):
        with pytest.raises(ValueError) as info:
            Retry(jitter=jitter)
        assert str(info.value) == f"Retry.jitter must be within [0, 1], got {jitter}"


def test_retry_defaults():
    policy = Retry()
    assert (policy.attempts, policy.base_delay_s, policy.max_delay_s, policy.jitter) == (4, 0.5, 30.0, 0.5)


def test_the_last_attempt_is_not_followed_by_a_wait():
    policy = Retry(attempts=3, base_delay_s=1, jitter=0)
    assert [policy.delay(i, ServerError("x")) for i in range(4)] == [1, 2, None, None]
    assert Retry(attempts=1).delay(0, ServerError("x")) is None
    assert policy.delay(0, AuthError("no")) is None and policy.delay(0, ValueError("not an LLM error")) is None


def test_backoff_doubles_up_to_the_cap():
    policy = Retry(attempts=10, base_delay_s=1, max_delay_s=5, jitter=0)
    assert [policy.delay(i, ServerError("x")) for i in range(5)] == [1, 2, 4, 5, 5]


def test_jitter_scales_the_wait_down_at_most_by_its_fraction(monkeypatch):
    monkeypatch.setattr(retry_module.random, "uniform", lambda lo, hi: lo)
    assert Retry(base_delay_s=2, jitter=0.25).delay(0, ServerError("x")) == 1.5
    monkeypatch.setattr(retry_module.random, "uniform", lambda lo, hi: hi)
    assert Retry(base_delay_s=2, jitter=0.25).delay(0, ServerError("x")) == 2.0


def test_retry_after_is_a_floor_and_a_wait_at_the_cap_is_still_taken():
    policy = Retry(base_delay_s=1, max_delay_s=5, jitter=0)
    assert policy.delay(0, RateLimited("slow", retry_after=0.2)) == 1  # shorter than the backoff
    assert policy.delay(0, RateLimited("slow", retry_after=3)) == 3
    assert policy.delay(0, RateLimited("slow", retry_after=5)) == 5
    assert policy.delay(0, RateLimited("slow", retry_after=5.01)) is None


def test_giving_up_notes_the_attempts_and_the_server_wait(sleeps):
    inner = ScriptedLLM([RateLimited("slow", retry_after=0.5)] * 3)
    with pytest.raises(RateLimited) as info:
        RetryLLM(inner, Retry(attempts=2, base_delay_s=0.1, jitter=0)).complete("q")
    assert info.value.__notes__ == ["gave up after 2 of 2 attempts (retry_after=0.5)"]
    assert sleeps == [0.5] and len(inner.calls) == 2
    fatal = ScriptedLLM([AuthError("bad key")])
    with pytest.raises(AuthError) as info:
        RetryLLM(fatal, Retry()).complete("q")
    assert not getattr(info.value, "__notes__", None)  # not retryable: nothing was tried again


def test_each_retry_is_logged_with_its_number(sleeps, caplog):
    inner = ScriptedLLM([ServerError("a"), ServerError("b"), "ok"])
    llm = RetryLLM(inner, Retry(attempts=3, base_delay_s=0.25, jitter=0))
    with caplog.at_level(logging.INFO, logger="trace_core.llm.retry"):
        llm.complete("q")
    messages = [r.getMessage() for r in caplog.records if r.name == "trace_core.llm.retry"]
    assert messages == [f"LLM call to {llm.model} failed (ServerError); retry 1/2 in 0.250s",
                        f"LLM call to {llm.model} failed (ServerError); retry 2/2 in 0.500s"]
    assert llm.model and llm.model != "None"


def test_async_and_stream_retries_wait_as_the_policy_says(monkeypatch, sleeps):
    waits: list[float] = []

    async def fake_sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr(retry_module.asyncio, "sleep", fake_sleep)
    policy = Retry(attempts=3, base_delay_s=0.5, jitter=0)
    llm = RetryLLM(ScriptedLLM([ServerError("a"), ServerError("b"), "ok"]), policy)
    assert asyncio.run(llm.acomplete("q")).text == "ok" and waits == [0.5, 1.0]
    failing = ScriptedLLM([ServerError("x")] * 5)
    with pytest.raises(ServerError):
        asyncio.run(RetryLLM(failing, policy).acomplete("q"))
    assert len(failing.calls) == 3 and waits == [0.5, 1.0, 0.5, 1.0]
    failing = ScriptedLLM([ServerError("x")] * 5)
    with pytest.raises(ServerError) as info:
        list(RetryLLM(failing, policy).stream("q"))
    assert len(failing.calls) == 3 and info.value.__notes__ == ["gave up after 3 of 3 attempts (retry_after=None)"]
    sleeps.clear()
    streamed = list(RetryLLM(ScriptedLLM([ServerError("a"), ServerError("b"), "s"]), policy).stream("q"))
    assert streamed[-1].text == "s" and sleeps == [0.5, 1.0]


def test_retry_uses_the_default_policy_when_given_none():
    assert RetryLLM(ScriptedLLM([]), None).policy == Retry()


# -- limit --------------------------------------------------------------------------------------------------------
def test_a_slot_is_given_back_after_an_error_and_after_a_stream():
    llm = LimitLLM(ScriptedLLM([ServerError("x"), "streamed", ServerError("y")]), 1)
    with pytest.raises(ServerError):
        llm.complete("q")
    assert llm.slots.in_use == 0
    assert list(llm.stream("q"))[-1].text == "streamed" and llm.slots.in_use == 0
    with pytest.raises(ServerError):
        asyncio.run(llm.acomplete("q"))
    assert llm.slots.in_use == 0


def test_slots_can_be_shared_and_say_what_is_wrong():
    shared = Slots(1)
    a, b = LimitLLM(ScriptedLLM(["a"]), shared), LimitLLM(ScriptedLLM(["b"]), shared)
    assert a.slots is b.slots is shared and shared.size == 1
    assert LimitLLM(ScriptedLLM([]), 3).slots.size == 3
    with pytest.raises(ValueError) as info:
        Slots(0)
    assert str(info.value) == "max_concurrency must be at least 1, got 0"


def test_slots_fill_up_to_their_size():
    slots = Slots(2)
    slots.acquire()
    slots.acquire()
    assert slots.in_use == 2
    slots.release()
    slots.release()
    assert slots.in_use == 0

    async def both():
        await slots.aacquire()
        await slots.aacquire()
        taken = slots.in_use
        slots.release()
        slots.release()
        return taken

    assert asyncio.run(both()) == 2 and slots.in_use == 0


# -- cache --------------------------------------------------------------------------------------------------------
def test_the_default_cache_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACETUNE_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "a" / "llm.sqlite"
    monkeypatch.delenv("TRACETUNE_CACHE_DIR")
    assert default_cache_path() == tmp_path / "xdg" / "tracetune" / "llm.sqlite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / ".cache" / "tracetune" / "llm.sqlite"


def test_cache_repr_read_only_words_and_clear(tmp_path):
    path = tmp_path / "deep" / "deeper" / "c.sqlite"  # missing folders are made
    cache = Cache(path)
    assert repr(cache) == f"Cache({str(path)!r})" and path.exists()
    cache.put("k", Completion(texts=("v",), model="m"))
    assert len(cache) == 1 and cache.get("k").text == "v" and cache.get("other") is None
    ro = Cache(path, read_only=True)
    assert repr(ro) == f"Cache({str(path)!r}, read_only=True)"
    ro.put("k2", Completion(texts=("w",), model="m"))
    assert len(cache) == 1 and ro.get("k2") is None
    with pytest.raises(ConfigError) as info:
        ro.clear()
    assert str(info.value) == (f"the LLM cache {path} is read-only; open it without read_only=True to clear it")
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ConfigError) as info:
        Cache(tmp_path / "none.sqlite", read_only=True)
    assert str(info.value) == (f"read-only LLM cache {tmp_path / 'none.sqlite'} does not exist; "
                               "fill it first or drop read_only")


def test_a_cache_hit_is_marked_free_in_every_call_form(tmp_path):
    inner = ScriptedLLM(["answer"])
    llm = CacheLLM(inner, Cache(tmp_path / "c.sqlite"))
    first = llm.complete("q")
    assert first.cached is False and first.text == "answer"
    for hit in (llm.complete("q"), asyncio.run(llm.acomplete("q")), list(llm.stream("q"))[-1]):
        assert (hit.cached, hit.cost_usd, hit.usage.total_tokens, hit.text) == (True, 0.0, 0, "answer")
        assert hit.latency_s >= 0
    assert len(inner.calls) == 1
    assert list(llm.stream("q"))[0] == "answer"


def test_a_hit_costs_nothing_and_takes_its_own_latency(tmp_path):
    paid = Completion(texts=("paid",), model="m", cost_usd=0.5, latency_s=9.0)
    llm = CacheLLM(ScriptedLLM([paid]), Cache(tmp_path / "c.sqlite"))
    assert llm.complete("q").cost_usd == 0.5
    hit = llm.complete("q")
    assert hit.cost_usd == 0.0 and 0 < hit.latency_s < 9.0


def test_an_async_miss_and_a_streamed_miss_are_stored(tmp_path):
    inner = ScriptedLLM(["one", "two"])
    llm = CacheLLM(inner, Cache(tmp_path / "c.sqlite"))
    assert asyncio.run(llm.acomplete("a")).cached is False
    assert list(llm.stream("b"))[-1].cached is False
    assert llm.complete("a").text == "one" and llm.complete("b").text == "two"
    assert len(inner.calls) == 2 and len(llm.cache) == 2


def test_a_hit_without_text_streams_only_the_completion(tmp_path):
    llm = CacheLLM(ScriptedLLM([""]), Cache(tmp_path / "c.sqlite"))
    llm.complete("q")
    streamed = list(llm.stream("q"))
    assert len(streamed) == 1 and streamed[0].cached


def test_the_cache_file_is_shared_safely_in_wal_mode(tmp_path):
    import sqlite3

    path = tmp_path / "c.sqlite"
    cache = Cache(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert [r[1] for r in conn.execute("PRAGMA table_info(completions)")] == ["key", "model", "value", "created"]
    cache.put("k", Completion(texts=("v",), model="the-model"))
    with sqlite3.connect(path) as conn:
        key, model, value, created = conn.execute("SELECT * FROM completions").fetchone()
    assert (key, model) == ("k", "the-model") and created > 0
    assert '"cached"' not in value and '"latency_s"' not in value  # the hit sets its own


def test_an_unusable_cache_warns_and_misses_instead_of_failing(tmp_path, caplog):
    import sqlite3

    path = tmp_path / "c.sqlite"
    cache = Cache(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE completions")
    with caplog.at_level(logging.WARNING, logger="trace_core.llm.cache"):
        cache.put("k", Completion(texts=("v",), model="m"))
        assert cache.get("k") is None
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == f"could not store a completion in the LLM cache {path}: no such table: completions"
    assert messages[1] == f"LLM cache {path} unreadable (no such table: completions); treating as a miss"
    assert len(cache) == 0
    llm = CacheLLM(ScriptedLLM(["still answered"]), cache)
    assert llm.complete("q").text == "still answered"


class _LockedConn:
    """A connection whose first ``locked`` statements fail as SQLite does under contention."""

    def __init__(self, locked: int, message: str = "database is locked") -> None:
        self.locked, self.message, self.statements = locked, message, []

    def execute(self, sql: str):
        import sqlite3

        self.statements.append(sql)
        if self.locked:
            self.locked -= 1
            raise sqlite3.OperationalError(self.message)


def test_opening_a_cache_file_retries_while_another_process_holds_the_lock(monkeypatch):
    import sqlite3

    import trace_core.llm.cache as cache_module

    waits: list[float] = []
    monkeypatch.setattr(cache_module, "time", types.SimpleNamespace(sleep=waits.append))
    conn = _LockedConn(locked=6)
    cache_module._setup(conn)
    assert waits == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.10, 0.02])  # a short back-off that cycles
    assert conn.statements[-3:] == ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", cache_module._SCHEMA]
    waits.clear()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        cache_module._setup(_LockedConn(locked=100), attempts=3)
    assert len(waits) == 2  # no wait after the last attempt
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        cache_module._setup(_LockedConn(locked=1, message="disk I/O error"))
    with pytest.raises(sqlite3.OperationalError):
        cache_module._setup(_LockedConn(locked=50))  # 50 attempts by default
    assert len(waits) == 2 + 49
    cache_module._setup(_LockedConn(locked=49))
