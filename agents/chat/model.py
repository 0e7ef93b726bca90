"""An adapter from tracetune's LLM layer to langchain's chat-model interface, so the
chat agent's model goes through the same cache, retries, budget and redacted log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

__all__ = ["LayerChatModel", "to_openai_messages"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """langchain messages as OpenAI chat messages."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = _ROLES.get(m.type, "user")
        content = m.content if isinstance(m.content, str) else json.dumps(m.content)
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


class LayerChatModel(BaseChatModel):
    """A langchain chat model backed by any tracetune ``LLM``.

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
        calls = completion.tool_calls[0] if completion.tool_calls else ()
        tool_calls = []
        for c in calls:
            try:
                args = c.args
            except Exception:  # noqa: BLE001 - unparseable arguments go to the tool as text
                args = {"__raw__": c.arguments}
            tool_calls.append({"name": c.name, "args": args, "id": c.id or f"call_{uuid.uuid4().hex[:10]}",
                               "type": "tool_call"})
        return AIMessage(content=completion.text or "", tool_calls=tool_calls,
                         usage_metadata={"input_tokens": completion.usage.prompt_tokens,
                                         "output_tokens": completion.usage.completion_tokens,
                                         "total_tokens": completion.usage.total_tokens})

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._ask(messages, **kwargs))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        if kwargs.get("tools") or not hasattr(self.llm, "stream"):
            msg = self._ask(messages, **kwargs)
            yield ChatGenerationChunk(message=AIMessageChunk(
                content=msg.content, tool_call_chunks=[
                    {"name": tc["name"], "args": json.dumps(tc["args"]), "id": tc["id"], "index": i}
                    for i, tc in enumerate(msg.tool_calls)]))
            return
        for piece in self.llm.stream(to_openai_messages(messages), temperature=self.temperature):
            if isinstance(piece, str):
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager is not None:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
