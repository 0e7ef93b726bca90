"""``wrap``: put the cache, retries, a concurrency limit, the budget and a log around any LLM."""

from __future__ import annotations

import os

from trace_core.budget import Budget
from trace_core.llm.base import LLM, BaseLLM, as_base
from trace_core.llm.cache import Cache, CacheLLM
from trace_core.llm.limit import LimitLLM, Slots
from trace_core.llm.log import LogLLM
from trace_core.llm.retry import Retry, RetryLLM
from trace_core.llm.spend import BudgetLLM

__all__ = ["wrap", "CacheSpec"]

CacheSpec = Cache | str | os.PathLike[str] | bool | None


def as_cache(cache: CacheSpec) -> Cache | None:
    """A :class:`Cache` from ``True`` (the default path), a path, a Cache, or None/False (no cache)."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return Cache()
    if isinstance(cache, Cache):
        return cache
    return Cache(cache)


def wrap(llm: LLM, *, cache: CacheSpec = None, retry: Retry | bool | None = None,
         max_concurrency: int | Slots | None = None, budget: Budget | None = None,
         log_path: str | os.PathLike[str] | None = None) -> BaseLLM:
    """``llm`` with the middleware asked for, outermost first: log, cache, retry, budget, limit.

    So every call is logged (cache hits and errors included); a cache hit is free
    and is not refused by the budget; the budget is charged for every request sent,
    retries included, and checked before a slot is awaited; a call waiting to be
    retried does not hold a slot.

    Args:
        llm: any LLM.
        cache: ``True`` for the default on-disk cache, a path, or a :class:`Cache`.
        retry: a :class:`Retry` policy (``True`` for the default one).
        max_concurrency: at most this many calls in flight (or a shared :class:`Slots`).
        budget: the shared Budget; tokens, dollars and calls are checked before sending.
        log_path: a JSONL file every call is appended to.

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> llm = wrap(ScriptedLLM(["hi"]), retry=Retry(attempts=2), max_concurrency=4)
        >>> llm.complete("hello").text
        'hi'
    """
    out: BaseLLM = as_base(llm)
    if max_concurrency is not None:
        out = LimitLLM(out, max_concurrency)
    if budget is not None:
        out = BudgetLLM(out, budget)
    if retry:
        out = RetryLLM(out, Retry() if retry is True else retry)
    store = as_cache(cache)
    if store is not None:
        out = CacheLLM(out, store)
    if log_path is not None:
        out = LogLLM(out, log_path)
    return out

