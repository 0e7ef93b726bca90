"""Frozen records of the LLM layer: what was asked (:class:`Request`) and answered (:class:`Completion`)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trace_core.llm.errors import UnparseableReply
from trace_core.llm.redact import clean, clean_text

__all__ = ["Usage", "ToolCall", "Completion", "Request", "Messages"]

Messages = str | Sequence[Mapping[str, Any]]


class Usage(BaseModel):
    """Token counts of one call.

    Example:
        >>> Usage(prompt_tokens=3, completion_tokens=2).total_tokens
        5
    """

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class ToolCall(BaseModel):
    """A call of a tool the model asked for: its name and JSON arguments.

    Example:
        >>> ToolCall.of("weather", city="Paris").args
        {'city': 'Paris'}
    """

    model_config = ConfigDict(frozen=True)

    name: str
    arguments: str = "{}"
    id: str | None = None

    @field_validator("name", "arguments")
    @classmethod
    def _clean(cls, text: str) -> str:
        return clean_text(text)

    @classmethod
    def of(cls, name: str, /, **args: Any) -> "ToolCall":
        """A tool call from keyword arguments."""
        return cls(name=name, arguments=json.dumps(args))

    @property
    def args(self) -> dict[str, Any]:
        """The arguments parsed; raises :class:`UnparseableReply` if they are not a JSON object."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise UnparseableReply(f"arguments of tool call {self.name!r} are not JSON ({exc}); "
                                   "ask the model again", raw=self.arguments) from None
        if not isinstance(value, dict):
            raise UnparseableReply(f"arguments of tool call {self.name!r} are not a JSON object", raw=self.arguments)
        return clean(value)  # a JSON escape such as \\ud800 decodes to a lone surrogate


class Completion(BaseModel):
    """The answer to one call: ``n`` choices plus what the call cost.

    ``tool_calls[i]`` are the tool calls of choice ``i``; ``parsed[i]`` is choice
    ``i`` validated against the requested ``response_format`` (None without one).
    ``cost_usd`` is None where the price is unknown; a cache hit has ``cached=True``
    and costs nothing. ``sent`` (backends that know it) is what really went to the
    model: the ``messages`` (a schema described in the prompt included) and whether
    ``response_format`` was sent natively; it is not cached.

    Example:
        >>> c = Completion(texts=("hi",), model="m")
        >>> c.text, c.tool_calls, c.cached
        ('hi', ((),), False)
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    texts: tuple[str, ...]
    tool_calls: tuple[tuple[ToolCall, ...], ...] = ()
    model: str = ""
    usage: Usage = Usage()
    cost_usd: float | None = None
    latency_s: float = 0.0
    cached: bool = False
    finish_reasons: tuple[str | None, ...] = ()
    parsed: tuple[Any, ...] | None = Field(default=None, exclude=True)
    sent: dict[str, Any] | None = Field(default=None, exclude=True)

    @field_validator("texts")
    @classmethod
    def _clean(cls, texts: tuple[str, ...]) -> tuple[str, ...]:
        """Lone surrogates (which no file or database can hold) become U+FFFD on the way in."""
        return tuple(clean_text(t) for t in texts)

    def model_post_init(self, __context: Any) -> None:
        """Give every choice a (possibly empty) tuple of tool calls."""
        if len(self.tool_calls) < len(self.texts):
            pad = ((),) * (len(self.texts) - len(self.tool_calls))
            object.__setattr__(self, "tool_calls", tuple(self.tool_calls) + pad)

    @property
    def text(self) -> str:
        """The first choice's text."""
        return self.texts[0] if self.texts else ""

    @property
    def value(self) -> Any:
        """The first choice parsed when a ``response_format`` was given, else its text."""
        return self.parsed[0] if self.parsed else self.text


@functools.lru_cache(maxsize=256)
def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model.model_json_schema()``, computed once per model (do not mutate the result)."""
    return model.model_json_schema()


def to_messages(messages: Messages) -> list[dict[str, Any]]:
    """Chat messages as a list of dicts; a string becomes one user message."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = [dict(m) for m in messages]
    for m in out:
        if "role" not in m:
            raise ValueError(f"chat message {m!r} has no 'role'; use {{'role': 'user', 'content': ...}}")
    return out


@dataclass(frozen=True)
class Request:
    """One call as the middleware sees it (messages normalized, tools as OpenAI schemas).

    Example:
        >>> r = Request(messages=[{"role": "user", "content": "hi"}], temperature=0.0)
        >>> r.payload(), r.prompt_preview()
        ({'messages': [{'role': 'user', 'content': 'hi'}], 'temperature': 0.0}, 'hi')
    """

    messages: list[dict[str, Any]]
    n: int = 1
    temperature: float | None = None
    max_tokens: int | None = None
    response_format: type[BaseModel] | None = None
    tools: tuple[dict[str, Any], ...] | None = None
    seed: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """A JSON-able view of the request (for keys, logs and recordings)."""
        out: dict[str, Any] = {"messages": self.messages}
        for name in ("n", "temperature", "max_tokens", "seed"):
            value = getattr(self, name)
            if value is not None and not (name == "n" and value == 1):
                out[name] = value
        if self.tools:
            out["tools"] = list(self.tools)
        if self.response_format is not None:
            out["response_format"] = {"name": self.response_format.__name__,
                                      "schema": json_schema(self.response_format)}
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    def key(self, model: str | None, *, fields: Sequence[str] | None = None) -> str:
        """A stable hash of the request (and ``model``); ``fields`` limits what counts."""
        payload = self.payload()
        if fields is not None:
            payload = {k: v for k, v in payload.items() if k in fields}
        text = json.dumps({"model": model, **payload}, sort_keys=True, default=repr, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def prompt_preview(self, limit: int = 200) -> str:
        """The last user message (cut to ``limit`` characters), to name a call in messages."""
        users = [m for m in self.messages if m.get("role") == "user"] or self.messages
        text = str(users[-1].get("content", "")) if users else ""
        return text if len(text) <= limit else text[: limit - 3] + "..."
