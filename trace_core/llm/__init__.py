"""The LLM layer: one protocol, every provider through litellm, middleware, and offline fakes.

Workflows call LLMs inside traced ops (:func:`llm_op`), optimizers call them to
propose, the chat agent calls them with tools; all go through this package.
litellm is imported only when a :class:`LiteLLM` is made, and each name below on first use.

Example:
    >>> from trace_core.llm import ScriptedLLM, Retry, wrap
    >>> llm = wrap(ScriptedLLM(["hello"]), retry=Retry(attempts=2))
    >>> llm.complete("Say hello").text
    'hello'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trace_core._lazy import lazy_package

if TYPE_CHECKING:
    from trace_core.budget import Budget
    from trace_core.llm.base import LLM, BaseLLM, Middleware
    from trace_core.llm.cache import Cache, CacheLLM
    from trace_core.llm.env import llm_from_env, resolve_llm
    from trace_core.llm.errors import (
        AuthError,
        BadRequest,
        BudgetExceeded,
        FatalLLMError,
        LLMConnectionError,
        LLMError,
        LLMTimeout,
        RateLimited,
        ReplayMissing,
        RetryableLLMError,
        ServerError,
        UnparseableReply,
    )
    from trace_core.llm.limit import LimitLLM, Slots
    from trace_core.llm.litellm_llm import LiteLLM, LiteLLMBackend
    from trace_core.llm.log import LogLLM
    from trace_core.llm.op import LLMOp, llm_op
    from trace_core.llm.records import Completion, Request, ToolCall, Usage
    from trace_core.llm.replay import ReplayLLM
    from trace_core.llm.retry import Retry, RetryLLM
    from trace_core.llm.scripted import ScriptedLLM
    from trace_core.llm.spend import BudgetLLM
    from trace_core.llm.structured import parse_reply, tool_schema
    from trace_core.llm.wrap import wrap

_HOMES = {
    "Budget": "trace_core.budget",
    **dict.fromkeys(("LLM", "BaseLLM", "Middleware"), "trace_core.llm.base"),
    **dict.fromkeys(("Cache", "CacheLLM"), "trace_core.llm.cache"),
    **dict.fromkeys(("llm_from_env", "resolve_llm"), "trace_core.llm.env"),
    **dict.fromkeys(("AuthError", "BadRequest", "BudgetExceeded", "FatalLLMError", "LLMConnectionError",
                     "LLMError", "LLMTimeout", "RateLimited", "ReplayMissing", "RetryableLLMError",
                     "ServerError", "UnparseableReply"), "trace_core.llm.errors"),
    **dict.fromkeys(("LimitLLM", "Slots"), "trace_core.llm.limit"),
    **dict.fromkeys(("LiteLLM", "LiteLLMBackend"), "trace_core.llm.litellm_llm"),
    "LogLLM": "trace_core.llm.log",
    **dict.fromkeys(("LLMOp", "llm_op"), "trace_core.llm.op"),
    **dict.fromkeys(("Completion", "Request", "ToolCall", "Usage"), "trace_core.llm.records"),
    "ReplayLLM": "trace_core.llm.replay",
    **dict.fromkeys(("Retry", "RetryLLM"), "trace_core.llm.retry"),
    "ScriptedLLM": "trace_core.llm.scripted",
    "BudgetLLM": "trace_core.llm.spend",
    **dict.fromkeys(("parse_reply", "tool_schema"), "trace_core.llm.structured"),
    "wrap": "trace_core.llm.wrap",
}

lazy_package(__name__, _HOMES)

__all__ = [
    "LLM",
    "BaseLLM",
    "Middleware",
    "Completion",
    "ToolCall",
    "Usage",
    "Request",
    "LiteLLM",
    "LiteLLMBackend",
    "ScriptedLLM",
    "ReplayLLM",
    "wrap",
    "Retry",
    "Cache",
    "Slots",
    "Budget",
    "CacheLLM",
    "RetryLLM",
    "LimitLLM",
    "BudgetLLM",
    "LogLLM",
    "llm_from_env",
    "resolve_llm",
    "llm_op",
    "LLMOp",
    "parse_reply",
    "tool_schema",
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
