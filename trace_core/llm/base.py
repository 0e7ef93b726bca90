"""The ``LLM`` protocol, the base class of every backend, and the base of every middleware.

A backend implements ``_complete(request)`` (and, when it can do better than a
thread or a single chunk, ``_acomplete`` and ``_stream``). The public methods
normalize the arguments into a :class:`~trace_core.llm.records.Request`, run the
chain, and validate ``response_format`` once at the outermost layer.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from trace_core.llm.records import Completion, Messages, Request, to_messages
from trace_core.llm.structured import parse_completion, tool_schemas

__all__ = ["LLM", "BaseLLM", "Middleware", "as_base", "estimate_tokens"]

Tools = Sequence[Mapping[str, Any] | type[BaseModel]]


@runtime_checkable
class LLM(Protocol):
    """What the rest of tracetune calls. Implement it, or subclass :class:`BaseLLM`.

    ``stream`` yields text deltas of the first choice and ends with the full
    :class:`Completion`.
    """

    model: str

    def complete(self, messages: Messages, *, n: int = 1, temperature: float | None = None,
                 max_tokens: int | None = None, response_format: type[BaseModel] | None = None,
                 tools: Tools | None = None, seed: int | None = None, **params: Any) -> Completion: ...

    async def acomplete(self, messages: Messages, *, n: int = 1, temperature: float | None = None,
                        max_tokens: int | None = None, response_format: type[BaseModel] | None = None,
                        tools: Tools | None = None, seed: int | None = None, **params: Any) -> Completion: ...

    def stream(self, messages: Messages, *, n: int = 1, temperature: float | None = None,
               max_tokens: int | None = None, response_format: type[BaseModel] | None = None,
               tools: Tools | None = None, seed: int | None = None, **params: Any) -> Iterator[str | Completion]: ...


def estimate_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """A rough token count (4 characters a token, 4 tokens a message) for backends without a tokenizer."""
    return sum(len(str(m.get("content") or "")) // 4 + 4 for m in messages) + 2


def make_request(messages: Messages, *, n: int = 1, temperature: float | None = None, max_tokens: int | None = None,
                 response_format: type[BaseModel] | None = None, tools: Tools | None = None,
                 seed: int | None = None, **params: Any) -> Request:
    """Normalize the arguments of a call into a :class:`Request`."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    is_model = isinstance(response_format, type) and issubclass(response_format, BaseModel)
    if response_format is not None and not is_model:
        raise TypeError(f"response_format must be a pydantic model class, not {response_format!r}")
    return Request(to_messages(messages), n, temperature, max_tokens, response_format, tool_schemas(tools), seed,
                   params)


class BaseLLM(abc.ABC):
    """Base of backends and middleware: the public API around ``_complete``.

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> ScriptedLLM(["4"]).complete("2+2?").text
        '4'
    """

    model: str = "unknown"

    def complete(self, messages: Messages, **kwargs: Any) -> Completion:
        """Ask for ``n`` completions of ``messages``; see :class:`LLM` for the keywords."""
        request = make_request(messages, **kwargs)
        return parse_completion(request, self._complete(request))

    async def acomplete(self, messages: Messages, **kwargs: Any) -> Completion:
        """Like :meth:`complete`, awaitable."""
        request = make_request(messages, **kwargs)
        return parse_completion(request, await self._acomplete(request))

    def stream(self, messages: Messages, **kwargs: Any) -> Iterator[str | Completion]:
        """Text deltas of the first choice, then the full :class:`Completion`."""
        request = make_request(messages, **kwargs)
        for item in self._stream(request):
            yield parse_completion(request, item) if isinstance(item, Completion) else item

    def count_tokens(self, messages: Sequence[Mapping[str, Any]]) -> int:
        """Prompt tokens of ``messages`` (used to check a budget before sending)."""
        return estimate_tokens(messages)

    def estimate_cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Dollars for these token counts, or None when the price is unknown."""
        return None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings (API keys) that must never reach a log or an error message."""
        return ()

    @property
    def sends_schema(self) -> bool:
        """Whether a ``response_format`` reaches the model as a native schema (callers then
        may ask for JSON); False: the schema would only be described in the prompt."""
        return False

    @abc.abstractmethod
    def _complete(self, request: Request) -> Completion:
        """Answer one request (the one method a backend must write)."""

    async def _acomplete(self, request: Request) -> Completion:
        return await asyncio.to_thread(self._complete, request)

    def _stream(self, request: Request) -> Iterator[str | Completion]:
        completion = self._complete(request)
        if completion.text:
            yield completion.text
        yield completion

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"


class Middleware(BaseLLM):
    """An LLM around another one; by default every call passes straight through.

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> class Upper(Middleware):
        ...     def _complete(self, request):
        ...         done = self.inner._complete(request)
        ...         return done.model_copy(update={"texts": tuple(t.upper() for t in done.texts)})
        >>> Upper(ScriptedLLM(["quiet"])).complete("q").text
        'QUIET'
    """

    def __init__(self, inner: LLM) -> None:
        self.inner = as_base(inner)

    @property
    def model(self) -> str:  # type: ignore[override]
        return self.inner.model

    def count_tokens(self, messages: Sequence[Mapping[str, Any]]) -> int:
        return self.inner.count_tokens(messages)

    def estimate_cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        return self.inner.estimate_cost(prompt_tokens, completion_tokens)

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.inner.secrets

    @property
    def sends_schema(self) -> bool:
        return self.inner.sends_schema

    def _complete(self, request: Request) -> Completion:
        return self.inner._complete(request)

    async def _acomplete(self, request: Request) -> Completion:
        return await self.inner._acomplete(request)

    def _stream(self, request: Request) -> Iterator[str | Completion]:
        return self.inner._stream(request)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"


class _Adapter(BaseLLM):
    """Any object with the :class:`LLM` methods, usable inside the middleware chain."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.model = str(getattr(llm, "model", type(llm).__name__))

    @property
    def sends_schema(self) -> bool:
        return bool(getattr(self.llm, "sends_schema", False))

    @staticmethod
    def _kwargs(request: Request) -> dict[str, Any]:
        return {"n": request.n, "temperature": request.temperature, "max_tokens": request.max_tokens,
                "response_format": request.response_format, "tools": request.tools, "seed": request.seed,
                **request.extra}

    def _complete(self, request: Request) -> Completion:
        return self.llm.complete(request.messages, **self._kwargs(request))

    async def _acomplete(self, request: Request) -> Completion:
        if hasattr(self.llm, "acomplete"):
            return await self.llm.acomplete(request.messages, **self._kwargs(request))
        return await super()._acomplete(request)

    def _stream(self, request: Request) -> Iterator[str | Completion]:
        if hasattr(self.llm, "stream"):
            return iter(self.llm.stream(request.messages, **self._kwargs(request)))
        return super()._stream(request)


def as_base(llm: Any) -> BaseLLM:
    """``llm`` as a :class:`BaseLLM` (wrapping objects that only follow the protocol)."""
    if isinstance(llm, BaseLLM):
        return llm
    if not callable(getattr(llm, "complete", None)):
        raise TypeError(f"{llm!r} is not an LLM: it has no complete(messages, ...) method")
    return _Adapter(llm)

