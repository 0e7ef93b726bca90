"""``ScriptedLLM``: an offline LLM answering from a list, a function or substring rules."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Union

from pydantic import BaseModel

from trace_core.llm.base import BaseLLM, estimate_tokens
from trace_core.llm.errors import FatalLLMError
from trace_core.llm.records import Completion, Request, ToolCall, Usage

__all__ = ["ScriptedLLM", "Reply"]

#: One scripted answer: text, a tool call (or several), ``{"text": ..., "tool_calls": [...], "finish_reason": ...}``,
#: a pydantic instance (sent as its JSON), a whole :class:`Completion`, or an exception to raise.
Reply = Union[str, ToolCall, Sequence[ToolCall], Mapping[str, Any], BaseModel, Completion, BaseException]


def _choice(reply: Any) -> tuple[str, tuple[ToolCall, ...], str]:
    """Text, tool calls and finish reason of one scripted choice."""
    if isinstance(reply, str):
        return reply, (), "stop"
    if isinstance(reply, ToolCall):
        return "", (reply,), "tool_calls"
    if isinstance(reply, BaseModel):
        return reply.model_dump_json(), (), "stop"
    if isinstance(reply, Mapping):
        calls = tuple(c if isinstance(c, ToolCall) else _tool_call(c) for c in reply.get("tool_calls", ()))
        return str(reply.get("text", "")), calls, str(reply.get("finish_reason") or ("tool_calls" if calls else "stop"))
    if isinstance(reply, Sequence) and all(isinstance(c, ToolCall) for c in reply):
        return "", tuple(reply), "tool_calls"
    raise TypeError(f"cannot use {reply!r} as a scripted reply; use text, ToolCall(s), a dict with 'text'/"
                    "'tool_calls', a pydantic instance, a Completion or an exception")


def _tool_call(spec: Mapping[str, Any]) -> ToolCall:
    args = spec.get("arguments", {})
    return ToolCall.of(spec["name"], **args) if isinstance(args, Mapping) else ToolCall(name=spec["name"],
                                                                                        arguments=str(args))


class ScriptedLLM(BaseLLM):
    """Answers without a model: from a queue, a function of the messages, or substring rules.

    - a list: each choice takes the next reply (``n=3`` takes three);
    - a function ``fn(messages) -> reply``: called once per choice;
    - a dict ``{substring: reply}``: the first rule whose substring occurs in the
      messages' text answers (a rule's reply may be a list, used in turn).

    ``calls`` holds the messages of every call, ``requests`` the full requests.
    An exception as a reply is raised (to script failures for retry tests).
    ``sends_schema=True`` makes it claim native structured output (as a server with
    JSON-schema support would), so callers ask it for JSON.

    Example:
        >>> llm = ScriptedLLM({"capital": "Paris", "weather": ToolCall.of("weather", city="Paris")})
        >>> llm.complete("What is the capital of France?").text
        'Paris'
        >>> llm.complete("How is the weather?").tool_calls[0][0].args
        {'city': 'Paris'}
        >>> len(llm.calls)
        2
    """

    def __init__(self, replies: Sequence[Reply] | Callable[[list[dict[str, Any]]], Reply] | Mapping[str, Any] = (),
                 *, model: str = "scripted", sends_schema: bool = False) -> None:
        self.model = model
        self._sends_schema = sends_schema
        self.replies = replies
        self.calls: list[list[dict[str, Any]]] = []
        self.requests: list[Request] = []
        self._queue = list(replies) if isinstance(replies, Sequence) and not isinstance(replies, str) else None
        self._turns: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def sends_schema(self) -> bool:
        return self._sends_schema

    def _next(self, request: Request) -> Any:
        if callable(self.replies):
            return self.replies(request.messages)
        if isinstance(self.replies, Mapping):
            text = "\n".join(str(m.get("content") or "") for m in request.messages)
            for pattern, reply in self.replies.items():
                if pattern in text:
                    if isinstance(reply, list):
                        turn = self._turns.get(pattern, 0)
                        self._turns[pattern] = turn + 1
                        return reply[min(turn, len(reply) - 1)]
                    return reply
            raise FatalLLMError(f"ScriptedLLM has no rule for the prompt {request.prompt_preview()!r}; "
                                f"its rules match {list(self.replies)!r}", model=self.model)
        assert self._queue is not None
        if not self._queue:
            raise FatalLLMError(f"ScriptedLLM ran out of replies after {len(self.calls) - 1} calls; the prompt "
                                f"without a reply was {request.prompt_preview()!r}", model=self.model)
        return self._queue.pop(0)

    def _complete(self, request: Request) -> Completion:
        with self._lock:
            self.calls.append(request.messages)
            self.requests.append(request)
            replies = [self._next(request) for _ in range(request.n)]
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        if len(replies) == 1 and isinstance(replies[0], Completion):
            return replies[0]
        choices = [_choice(r) for r in replies]
        texts = tuple(t for t, _, _ in choices)
        usage = Usage(prompt_tokens=estimate_tokens(request.messages),
                      completion_tokens=sum(len(t) // 4 + 1 for t in texts))
        return Completion(texts=texts, tool_calls=tuple(c for _, c, _ in choices), model=self.model, usage=usage,
                          cost_usd=0.0, finish_reasons=tuple(f for _, _, f in choices))

    async def _acomplete(self, request: Request) -> Completion:
        return self._complete(request)

    def _stream(self, request: Request) -> Iterator[str | Completion]:
        completion = self._complete(request)
        words = completion.text.split(" ")
        for i, word in enumerate(words):
            if word or i < len(words) - 1:
                yield word if i == len(words) - 1 else word + " "
        yield completion
