"""The project's retry policy: exponential backoff with jitter, honouring ``Retry-After``."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from trace_core.llm.base import LLM, Middleware
from trace_core.llm.errors import LLMError
from trace_core.llm.records import Completion, Request

__all__ = ["Retry", "RetryLLM"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retry:
    """How often and how patiently a retryable error is retried.

    ``attempts`` counts every try, the first included. The wait before retry ``i``
    (0-based) is ``base_delay_s * 2**i`` capped at ``max_delay_s``, scaled by a
    random factor in ``[1 - jitter, 1]``, and never shorter than the server's
    ``Retry-After``. A ``Retry-After`` beyond ``max_delay_s`` ends the retries. Only
    errors marked ``retryable`` (429, 5xx, timeouts, connection errors) are retried.

    Example:
        >>> from trace_core.llm.errors import ServerError, AuthError
        >>> policy = Retry(attempts=2, base_delay_s=0.1, jitter=0)
        >>> policy.delay(0, ServerError("boom")), policy.delay(1, ServerError("boom")), policy.delay(0, AuthError("no"))
        (0.1, None, None)
    """

    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"Retry.attempts must be at least 1 (the first try), got {self.attempts}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"Retry.jitter must be within [0, 1], got {self.jitter}")

    def delay(self, failures: int, error: BaseException) -> float | None:
        """Seconds to wait after failed try number ``failures`` (0-based), or None to give up."""
        if not (isinstance(error, LLMError) and error.retryable) or failures + 1 >= self.attempts:
            return None
        backoff = min(self.max_delay_s, self.base_delay_s * 2 ** failures)
        backoff *= random.uniform(1 - self.jitter, 1)
        retry_after = error.retry_after
        if retry_after is not None:
            if retry_after > self.max_delay_s:
                return None
            backoff = max(backoff, retry_after)
        return backoff


class RetryLLM(Middleware):
    """Retries retryable failures of the inner LLM under a :class:`Retry` policy.

    A stream is retried only while it has not yielded anything.

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> from trace_core.llm.errors import ServerError
        >>> llm = RetryLLM(ScriptedLLM([ServerError("flaky"), "ok"]), Retry(base_delay_s=0))
        >>> llm.complete("q").text
        'ok'
    """

    def __init__(self, inner: LLM, policy: Retry | None = None) -> None:
        super().__init__(inner)
        self.policy = policy or Retry()

    def _wait(self, failures: int, error: BaseException) -> float:
        """The delay before the next try; re-raises ``error`` (with a note) when giving up."""
        delay = self.policy.delay(failures, error)
        if delay is None:
            if isinstance(error, LLMError) and error.retryable:
                error.add_note(f"gave up after {failures + 1} of {self.policy.attempts} attempts "
                               f"(retry_after={error.retry_after})")
            raise error
        log.info("LLM call to %s failed (%s); retry %d/%d in %.3fs", self.model, type(error).__name__,
                 failures + 1, self.policy.attempts - 1, delay)
        return delay

    def _complete(self, request: Request) -> Completion:
        failures = 0
        while True:
            try:
                return self.inner._complete(request)
            except LLMError as error:
                time.sleep(self._wait(failures, error))
                failures += 1

    async def _acomplete(self, request: Request) -> Completion:
        failures = 0
        while True:
            try:
                return await self.inner._acomplete(request)
            except LLMError as error:
                await asyncio.sleep(self._wait(failures, error))
                failures += 1

    def _stream(self, request: Request) -> Iterator[str | Completion]:
        failures = 0
        while True:
            started = False
            try:
                for item in self.inner._stream(request):
                    started = True
                    yield item
                return
            except LLMError as error:
                if started:
                    raise
                time.sleep(self._wait(failures, error))
                failures += 1
