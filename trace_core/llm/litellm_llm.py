"""``LiteLLM``: every provider litellm knows, behind the project's own middleware."""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from trace_core.budget import Budget
from trace_core.llm._litellm import import_litellm, to_llm_error
from trace_core.llm.base import BaseLLM, Middleware, estimate_tokens
from trace_core.llm.errors import AuthError, BadRequest, LLMError, ServerError
from trace_core.llm.limit import Slots
from trace_core.llm.records import Completion, Request, ToolCall, Usage
from trace_core.llm.retry import Retry
from trace_core.llm.structured import with_schema_prompt
from trace_core.llm.wrap import CacheSpec, wrap

__all__ = ["LiteLLM", "LiteLLMBackend", "StructuredOutput"]

log = logging.getLogger(__name__)

#: How ``response_format`` reaches the model: True/"auto" (native until the server refuses it once),
#: False (never: the schema goes in the prompt), None (what litellm knows of the model).
StructuredOutput = bool | str | None


class LiteLLMBackend(BaseLLM):
    """One litellm call per request, nothing around it (litellm's own retries are off).

    Prefer :class:`LiteLLM`, which adds the middleware.

    Example:
        >>> from trace_core.testing import openai_server
        >>> with openai_server() as srv:
        ...     LiteLLMBackend("openai/local", api_base=srv.url).complete("hi").texts
        ('Hello from the loopback server.',)
    """

    def __init__(self, model: str, *, api_base: str | None = None, api_key: str | None = None,
                 timeout: float = 60, structured_output: StructuredOutput = None, **params: Any) -> None:
        if structured_output not in (None, True, False, "auto"):
            raise BadRequest(f"structured_output must be true, false or \"auto\", not {structured_output!r}",
                             model=model)
        self.model = model
        self.api_base = api_base
        self._api_key = api_key
        self.timeout = float(timeout)  # litellm's OpenAI path wants a float (an int is converted each call)
        self.params = params
        # a client-wide seed= goes out as seed, seed + 1, ... in request order: a run made again repeats its
        # replies, while the same prompt asked twice in a run (an evolution operator) still gets a new one
        self._seeds = itertools.count(params["seed"]) if isinstance(params.get("seed"), int) else None
        self._litellm = litellm = import_litellm()
        try:
            self.provider = litellm.get_llm_provider(model, api_base=api_base)[1]
        except Exception:
            raise BadRequest(f"unknown model string {model!r}: litellm cannot tell its provider; write "
                             "provider/model, e.g. 'openai/gpt-4o-mini', 'anthropic/claude-3-5-haiku-latest', "
                             "'ollama/llama3.1', or 'openai/<name>' with api_base= for an OpenAI-compatible "
                             "server", model=model) from None
        if api_key is None and api_base is None:
            missing = [k for k in litellm.validate_environment(model=model).get("missing_keys", [])
                       if "KEY" in k or "TOKEN" in k]
            if missing:
                raise AuthError(f"no API key for {model!r}: set {' or '.join(missing)} or pass api_key=",
                                model=model)
        if api_key is None and api_base is not None and self.provider == "openai" and not os.environ.get(
                "OPENAI_API_KEY"):
            self._api_key = "no-key"  # OpenAI-compatible local servers need none, the client insists on one
        self.structured_output = structured_output
        self._native = bool(structured_output) if structured_output is not None else self._supports_schema()
        self._price_known = True

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._api_key,) if self._api_key else ()

    @property
    def sends_schema(self) -> bool:
        """Whether ``response_format`` goes to the model as a native schema (else into the prompt)."""
        return self._native

    def _supports_schema(self) -> bool:
        try:
            return bool(self._litellm.supports_response_schema(model=self.model))
        except Exception:
            return False

    def count_tokens(self, messages: Sequence[Mapping[str, Any]]) -> int:
        try:
            return int(self._litellm.token_counter(model=self.model, messages=list(messages)))
        except Exception:
            return estimate_tokens(messages)

    def estimate_cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if not self._price_known:
            return None
        try:
            prompt, completion = self._litellm.cost_per_token(model=self.model, prompt_tokens=prompt_tokens,
                                                              completion_tokens=completion_tokens)
        except Exception:
            self._price_known = False
            return None
        return float(prompt + completion)

    def _kwargs(self, request: Request, *, stream: bool = False) -> dict[str, Any]:
        kw: dict[str, Any] = {**self.params, **request.extra, "model": self.model, "messages": request.messages,
                              "timeout": self.timeout, "max_retries": 0, "num_retries": 0}
        if self.api_base:
            kw["api_base"] = self.api_base
        if self._api_key:
            kw["api_key"] = self._api_key
        if request.n != 1:
            kw["n"] = request.n
        if self._seeds is not None and request.seed is None:
            kw["seed"] = next(self._seeds)
        for name in ("temperature", "max_tokens", "seed"):
            if getattr(request, name) is not None:
                kw[name] = getattr(request, name)
        if request.tools:
            kw["tools"] = list(request.tools)
        if request.response_format is not None:
            if self._native:
                kw["response_format"] = request.response_format
            else:
                kw["messages"] = with_schema_prompt(request)
        if stream:
            kw["stream"] = True
        return kw

    def _completion(self, response: Any, started: float, sent: dict[str, Any]) -> Completion:
        try:
            choices = list(response.choices)
            texts = tuple(c.message.content or "" for c in choices)
            calls = tuple(tuple(ToolCall(name=t.function.name, arguments=t.function.arguments or "{}", id=t.id)
                                for t in (c.message.tool_calls or ())) for c in choices)
            finish = tuple(c.finish_reason for c in choices)
        except (AttributeError, TypeError) as exc:
            raise ServerError(f"LLM call to {self.model!r} returned a body that is not a completion ({exc}); "
                              "check the server", model=self.model) from None
        raw_usage = getattr(response, "usage", None)
        usage = Usage(prompt_tokens=getattr(raw_usage, "prompt_tokens", 0) or 0,
                      completion_tokens=getattr(raw_usage, "completion_tokens", 0) or 0)
        cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
        if cost is None:
            cost = self.estimate_cost(usage.prompt_tokens, usage.completion_tokens)
        sent_fields = {"messages": sent["messages"], "response_format": "response_format" in sent}
        return Completion(texts=texts, tool_calls=calls, model=response.model or self.model, usage=usage,
                          cost_usd=cost, latency_s=time.perf_counter() - started, finish_reasons=finish,
                          sent=sent_fields)

    def _refused(self, error: LLMError, kwargs: Mapping[str, Any]) -> bool:
        """Whether ``error`` is the server refusing the native schema: then it is not sent again."""
        if not isinstance(error, BadRequest) or "response_format" not in kwargs:
            return False
        self._native = False
        level = logging.WARNING if self.structured_output is True else logging.INFO
        log.log(level, "%s refused structured output (%s); the reply schema goes into the prompt from now on",
                self.model, error)
        return True

    def _fallback_failed(self) -> None:
        self._native = True  # the request failed for another reason: the schema was not the problem

    def _error(self, exc: BaseException) -> LLMError:
        return to_llm_error(exc, self.model, self.secrets)

    def _complete(self, request: Request) -> Completion:
        started, kwargs = time.perf_counter(), self._kwargs(request)
        try:
            response = self._litellm.completion(**kwargs)
        except Exception as exc:
            error = self._error(exc)
            if not self._refused(error, kwargs):
                raise error from None
            kwargs = self._kwargs(request)
            try:
                response = self._litellm.completion(**kwargs)
            except Exception as exc2:
                self._fallback_failed()
                raise self._error(exc2) from None
        return self._completion(response, started, kwargs)

    async def _acomplete(self, request: Request) -> Completion:
        started, kwargs = time.perf_counter(), self._kwargs(request)
        try:
            response = await self._litellm.acompletion(**kwargs)
        except Exception as exc:
            error = self._error(exc)
            if not self._refused(error, kwargs):
                raise error from None
            kwargs = self._kwargs(request)
            try:
                response = await self._litellm.acompletion(**kwargs)
            except Exception as exc2:
                self._fallback_failed()
                raise self._error(exc2) from None
        return self._completion(response, started, kwargs)

    def _stream(self, request: Request) -> Iterator[str | Completion]:
        started, chunks = time.perf_counter(), []
        kwargs = self._kwargs(request, stream=True)
        try:
            for chunk in self._litellm.completion(**kwargs):
                chunks.append(chunk)
                choice = chunk.choices[0] if chunk.choices else None
                delta = getattr(getattr(choice, "delta", None), "content", None)
                if delta and getattr(choice, "index", 0) == 0:
                    yield delta
            response = self._litellm.stream_chunk_builder(chunks, messages=kwargs["messages"])
        except LLMError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        if response is None:
            raise ServerError(f"LLM stream from {self.model!r} ended without any chunk; check the server",
                              model=self.model)
        yield self._completion(response, started, kwargs)

    def __repr__(self) -> str:
        base = f", api_base={self.api_base!r}" if self.api_base else ""
        return f"LiteLLMBackend(model={self.model!r}{base})"


class LiteLLM(Middleware):
    """Any model litellm accepts, with the project's cache, retries, limit, budget and log.

    litellm is imported when the first LiteLLM is made (never at ``trace_core``
    import). Its own retries are off: ``retry`` (default :class:`Retry()`) decides.
    ``structured_output`` says whether ``response_format`` is sent as a JSON schema:
    ``True`` or ``"auto"`` (sent until the server refuses it with a 400 once; that call
    is resent with the schema in the prompt, and the answer is remembered; ``True``
    warns), ``False`` (the schema goes in the prompt), None (what litellm knows of the
    model). The log records what was sent. The other keywords are those of :func:`~trace_core.llm.wrap`; ``params``
    go to every ``litellm.completion`` call.

    Example:
        >>> from trace_core.testing import openai_server
        >>> with openai_server() as srv:
        ...     llm = LiteLLM("openai/local", api_base=srv.url, api_key="sk-test-key-123")
        ...     llm.complete("Say hi").text
        'Hello from the loopback server.'
    """

    def __init__(self, model: str, api_base: str | None = None, api_key: str | None = None, timeout: float = 60, *,
                 cache: CacheSpec = None, retry: Retry | bool | None = True, max_concurrency: int | Slots | None = None,
                 budget: Budget | None = None, log_path: str | os.PathLike[str] | None = None,
                 structured_output: StructuredOutput = None, **params: Any) -> None:
        self.backend = LiteLLMBackend(model, api_base=api_base, api_key=api_key, timeout=timeout,
                                      structured_output=structured_output, **params)
        super().__init__(wrap(self.backend, cache=cache, retry=retry, max_concurrency=max_concurrency,
                              budget=budget, log_path=log_path))

    def __repr__(self) -> str:
        base = f", api_base={self.backend.api_base!r}" if self.backend.api_base else ""
        return f"LiteLLM(model={self.model!r}{base})"
