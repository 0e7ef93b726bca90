"""Errors of the LLM layer: retryable or not, and replies that could not be parsed.

Every error names the model and the cause and never a key: messages pass through
:func:`trace_core.llm.redact.redact_text` before they are raised.
"""

from __future__ import annotations

from typing import ClassVar

from trace_core.errors import BudgetExceeded, TraceTuneError

__all__ = [
    "LLMError",
    "RetryableLLMError",
    "FatalLLMError",
    "RateLimited",
    "LLMTimeout",
    "LLMConnectionError",
    "ServerError",
    "AuthError",
    "BadRequest",
    "UnparseableReply",
    "ReplayMissing",
    "BudgetExceeded",
]


class LLMError(TraceTuneError):
    """Root of the LLM layer's errors; ``retryable`` says whether a retry may help.

    Attributes:
        model: the model string of the call, when known.
        status: the HTTP status, when there was one.
        retry_after: seconds the server asked to wait (``Retry-After``), when given.

    Example:
        >>> err = RateLimited("slow down", model="openai/gpt-4o-mini", status=429, retry_after=2.0)
        >>> isinstance(err, LLMError), err.retryable, AuthError("bad key").retryable
        (True, True, False)
    """

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, model: str | None = None, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.status = status
        self.retry_after = retry_after


class RetryableLLMError(LLMError):
    """A transient failure (rate limit, server error, timeout, connection): retry with backoff."""

    retryable: ClassVar[bool] = True


class FatalLLMError(LLMError):
    """A failure a retry cannot fix (auth, bad request, unknown model): fix the call or configuration."""


class RateLimited(RetryableLLMError):
    """HTTP 429: the provider asks to slow down (``retry_after`` holds its ``Retry-After``)."""


class LLMTimeout(RetryableLLMError):
    """The provider did not answer within the timeout."""


class LLMConnectionError(RetryableLLMError):
    """The provider could not be reached."""


class ServerError(RetryableLLMError):
    """HTTP 5xx, or a body that was not a valid completion."""


class AuthError(FatalLLMError):
    """The key is missing, wrong or lacks permission (HTTP 401/403)."""


class BadRequest(FatalLLMError):
    """The request was refused as invalid (HTTP 400/404/422, unknown model, context too long)."""


class UnparseableReply(LLMError):
    """A reply that does not fit the requested schema; ``raw`` keeps its text.

    Not retried by the transport: the caller (an optimizer) may send the error back
    to the model.
    """

    def __init__(self, message: str, *, raw: str, model: str | None = None) -> None:
        super().__init__(message, model=model)
        self.raw = raw


class ReplayMissing(FatalLLMError):
    """A :class:`~trace_core.llm.ReplayLLM` was asked a call its recording does not hold."""
