"""Lazy access to litellm and the translation of its exceptions into :mod:`trace_core.llm.errors`."""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from trace_core.llm.errors import (AuthError, BadRequest, FatalLLMError, LLMConnectionError, LLMError, LLMTimeout,
                                   RateLimited, ServerError)
from trace_core.llm.redact import redact_text

__all__ = ["import_litellm", "to_llm_error", "parse_retry_after"]

_PREFIX = re.compile(r"^(litellm\.\w+:\s*)+(\w+Error:\s*)?")
_ADVICE = {
    RateLimited: "the provider is rate limiting; slow down (max_concurrency) or raise its limits",
    LLMTimeout: ("no answer within the timeout; raise it (timeout in the job file's [llm] section, "
                 "TRACETUNE_LLM_TIMEOUT=<seconds>, or timeout= in Python) or check the server's load"),
    LLMConnectionError: "the server could not be reached; check api_base and that the server runs",
    ServerError: "the server failed or sent a body that is not a completion; retry later or check the server",
    AuthError: "check the provider's key variable (e.g. OPENAI_API_KEY) or pass api_key=",
    BadRequest: "check the model string (provider/model), the messages and the parameters",
    FatalLLMError: "see the cause above",
}


def import_litellm() -> Any:
    """Import litellm without network access at import (local cost map) and without its banners.

    litellm points ``TIKTOKEN_CACHE_DIR`` at the tokenizers it ships, so token
    counting works offline.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def price_known(model: str) -> bool:
    """Whether litellm's local cost map has a price for ``model`` (so dollars can be counted)."""
    try:
        import_litellm().cost_per_token(model=model, prompt_tokens=1, completion_tokens=1)
    except Exception:  # noqa: BLE001 - litellm raises several kinds for a model it does not know
        return False
    return True


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), or None."""
    if not headers:
        return None
    lower = {str(k).lower(): v for k, v in headers.items()}
    try:
        if lower.get("retry-after-ms") is not None:
            return max(0.0, float(lower["retry-after-ms"]) / 1000)
        value = lower.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            date = email.utils.parsedate_to_datetime(value)
            return max(0.0, date.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _kind(exc: BaseException, status: int | None) -> type[LLMError]:
    names = {k.__name__ for k in type(exc).__mro__}
    if "APITimeoutError" in names or "Timeout" in names or isinstance(exc, TimeoutError):
        return LLMTimeout
    if "APIConnectionError" in names or isinstance(exc, ConnectionError) or "connection error" in str(exc).lower():
        return LLMConnectionError
    if "APIResponseValidationError" in names:
        return ServerError
    if status == 429 or "RateLimitError" in names:
        return RateLimited
    if status in (401, 403) or names & {"AuthenticationError", "PermissionDeniedError"}:
        return AuthError
    if status == 408:
        return LLMTimeout
    if status is not None and (status >= 500 or status in (409, 425)):
        return ServerError
    if (status is not None and 400 <= status < 500) or "BadRequestError" in names:
        return BadRequest
    return FatalLLMError


def to_llm_error(exc: BaseException, model: str, secrets: Iterable[str | None] = ()) -> LLMError:
    """An :class:`LLMError` naming the model and the cause (never a key) for a litellm/openai exception."""
    if isinstance(exc, LLMError):
        return exc
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    kind = _kind(exc, status)
    status = None if kind is LLMConnectionError else status  # litellm gives a refused connection status 500
    cause = _PREFIX.sub("", redact_text(str(exc), secrets).replace("\n", " ")).strip().rstrip(".")
    cause = cause if len(cause) <= 400 else cause[:397] + "..."
    where = f"HTTP {status}, {type(exc).__name__}" if status else type(exc).__name__
    message = f"LLM call to {model!r} failed ({where}): {cause}. {_ADVICE[kind]}"
    return kind(message, model=model, status=status, retry_after=parse_retry_after(headers))
