"""An adapter from tracetune's LLM layer to langchain's chat-model interface, so the
chat agent's model goes through the same cache, retries, budget and redacted log."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

__all__ = ["LayerChatModel", "to_openai_messages", "chat_spec_from_env", "RAW_ARGUMENTS", "storable"]

ENV_CHAT_MODEL = "TRACETUNE_CHAT_LLM"
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}

#: The argument a tool call gets when the model's arguments were not a JSON object, or held
#: an integer too large to keep (the tool then answers with an error naming it, see
#: ``agents.chat.tools``).
RAW_ARGUMENTS = "__raw_arguments__"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks: keep the text ones
        parts = [c if isinstance(c, str) else c.get("text", "") for c in content if isinstance(c, (str, dict))]
        return "".join(parts)
    return json.dumps(content)


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """langchain messages as OpenAI chat messages.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> to_openai_messages([HumanMessage("hi")])
        [{'role': 'user', 'content': 'hi'}]
    """
    out: list[dict[str, Any]] = []
    for m in messages:
        role = _ROLES.get(m.type, "user")
        content = _text(m.content)
        msg: dict[str, Any] = {"role": role, "content": content}
        if isinstance(m, AIMessage) and m.tool_calls:
            msg["tool_calls"] = [
                {"id": tc.get("id") or f"call_{i}", "type": "function",
                 "function": {"name": tc["name"], "arguments": json.dumps(tc.get("args", {}))}}
                for i, tc in enumerate(m.tool_calls)
            ]
            msg["content"] = content or None
        if isinstance(m, ToolMessage):
            msg["tool_call_id"] = m.tool_call_id
        out.append(msg)
    return out


def storable(value: Any) -> bool:
    """Whether the session file can keep ``value``: every integer in it fits in 64 bits.

    Example:
        >>> storable({"value": 10**30}), storable([1, 2.5e300, "x"])
        (False, True)
    """
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(storable(v) for v in value)
    return True


def chat_spec_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any] | str | None:
    """The chat model from the environment: ``$TRACETUNE_CHAT_LLM`` (else ``$TRACETUNE_LLM``)
    with the ``TRACETUNE_CHAT_LLM_*`` settings (``_API_BASE``, ``_API_KEY``, ``_TIMEOUT``,
    ``_STRUCTURED_OUTPUT``), each falling back to its ``TRACETUNE_LLM_*`` one; None when
    neither model is set. A ``scripted:`` spec is returned as it is (a string).

    Example:
        >>> chat_spec_from_env({"TRACETUNE_CHAT_LLM": "openai/local", "TRACETUNE_LLM_API_BASE": "http://h/v1"})
        {'model': 'openai/local', 'api_base': 'http://h/v1'}
    """
    from trace_core.llm.env import ENV_MODEL, env_settings

    env = os.environ if env is None else env
    model = (env.get(ENV_CHAT_MODEL) or env.get(ENV_MODEL) or "").strip()
    if not model:
        return None
    if model.startswith("scripted:"):
        return model
    return {"model": model, **env_settings(env, ENV_MODEL), **env_settings(env, ENV_CHAT_MODEL)}


def _tool_calls(completion: Any) -> list[dict[str, Any]]:
    """The first choice's tool calls as langchain tool calls (unparseable arguments kept as text)."""
    calls = completion.tool_calls[0] if completion.tool_calls else ()
    out = []
    for c in calls:
        try:
            args = c.args
        except Exception:  # noqa: BLE001 - not a JSON object: the tool reports it to the model
            args = {RAW_ARGUMENTS: c.arguments}
        if not storable(args):  # the checkpointer could not keep the turn; the tool reports it instead
            args = {RAW_ARGUMENTS: c.arguments}
        out.append({"name": c.name, "args": args, "id": c.id or f"call_{uuid.uuid4().hex[:10]}", "type": "tool_call"})
    return out


def _usage(completion: Any) -> dict[str, int]:
    u = completion.usage
    return {"input_tokens": u.prompt_tokens, "output_tokens": u.completion_tokens, "total_tokens": u.total_tokens}


def _calls_chunk(content: Any, calls: Sequence[dict[str, Any]], usage: Any) -> ChatGenerationChunk:
    return ChatGenerationChunk(message=AIMessageChunk(content=content, usage_metadata=usage, tool_call_chunks=[
        {"name": tc["name"], "args": json.dumps(tc["args"]), "id": tc["id"], "index": i}
        for i, tc in enumerate(calls)]))


class LayerChatModel(BaseChatModel):
    """A langchain chat model backed by any tracetune ``LLM`` (tool calls and streaming).

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> LayerChatModel(llm=ScriptedLLM(["hi"])).invoke("hello").content
        'hi'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: Any
    temperature: float | None = None

    @property
    def _llm_type(self) -> str:
        return "tracetune"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _ask(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        completion = self.llm.complete(to_openai_messages(messages), tools=kwargs.get("tools") or None,
                                       temperature=self.temperature)
        return AIMessage(content=completion.text or "", tool_calls=_tool_calls(completion),
                         usage_metadata=_usage(completion))

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._ask(messages, **kwargs))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        """Text deltas as they come, then one chunk with the tool calls and the token usage."""
        tools = kwargs.get("tools") or None
        if not callable(getattr(self.llm, "stream", None)):
            msg = self._ask(messages, **kwargs)
            yield _calls_chunk(msg.content, msg.tool_calls, msg.usage_metadata)
            return
        final = None
        for piece in self.llm.stream(to_openai_messages(messages), tools=tools, temperature=self.temperature):
            if not isinstance(piece, str):
                final = piece
                continue
            if piece:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager is not None:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
        if final is not None:
            yield _calls_chunk("", _tool_calls(final), _usage(final))
