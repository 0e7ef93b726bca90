"""The chat agent as a langgraph ``StateGraph``.

``agent`` (the chat model with the tools bound and the system prompt) → ``tools``
(a ToolNode; invalid arguments come back as ToolMessages) → ``agent`` … until the
model answers without tool calls. When the session asks for approval, a call of
``accept`` first passes ``approve``, a node with no side effects that asks the person
through :func:`langgraph.types.interrupt` and records the answer in the state; the
accept tool reads it from there. Interrupting there, not inside the tool, means the
other tool calls of the same message never run twice when the graph resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, SystemMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import interrupt

from agents.chat.control import RunControl
from agents.chat.tools import Bounds, make_tools, tool_error
from trace_core.errors import BudgetExceeded

__all__ = ["ChatState", "build_graph"]


class ChatState(MessagesState, total=False):
    """The conversation plus the person's answers to approval questions (tool call id -> answer)."""

    approvals: dict[str, str]


def _unapproved(state: ChatState) -> list[str]:
    last = state["messages"][-1]
    done = state.get("approvals") or {}
    return [tc["id"] for tc in getattr(last, "tool_calls", None) or () if tc["name"] == "accept" and tc["id"] not in done]


def build_graph(model: Any, control: RunControl, *, system_prompt: Callable[[], str], checkpointer: Any,
                bounds: Bounds | None = None) -> Any:
    """The compiled graph of one session.

    Args:
        model: a langchain chat model with ``bind_tools`` (a :class:`~agents.chat.model.LayerChatModel`).
        control: the session's run side; the tools act on it.
        system_prompt: renders the system message for each model call (it shows the current run).
        checkpointer: where the conversation is kept (a ``SqliteSaver``), keyed by thread id.
        bounds: how long each tool call may take, and the event Ctrl-C sets to stop it.
    """
    tools = make_tools(control, bounds)
    bound = model.bind_tools(tools)

    def agent(state: ChatState) -> dict[str, Any]:
        try:
            reply = bound.invoke([SystemMessage(system_prompt()), *state["messages"]])
        except BudgetExceeded as e:
            sid = control.record.session_id
            raise BudgetExceeded(
                f"the chat model's budget for this session is spent ({e}); continue with higher limits: "
                f"`tracetune chat --session {sid} --chat-max-tokens N` or ChatSession({sid!r}, chat_limits={{...}})",
                limit=e.limit) from None
        return {"messages": [reply]}

    def approve(state: ChatState) -> dict[str, Any]:
        calls = [tc for tc in state["messages"][-1].tool_calls if tc["id"] in _unapproved(state)]
        with control.lock:
            question = control.approval_question(calls[0]["args"].get("candidate") if calls else None)
        if question is None:  # nothing pending: accept itself will say so
            return {}
        answers = dict(state.get("approvals") or {})
        answer = interrupt({"question": question})
        for call_id in _unapproved(state):
            answers[call_id] = str(answer)
        return {"approvals": answers}

    def route(state: ChatState) -> str:
        last = state["messages"][-1]
        if not isinstance(last, AIMessage) or not last.tool_calls:
            return END
        if control.record.require_approval and _unapproved(state):
            return "approve"
        return "tools"

    graph = StateGraph(ChatState)
    graph.add_node("agent", agent)
    # one worker: the tool calls of one message run one after another, in the model's order
    graph.add_node("tools", ToolNode(tools, handle_tool_errors=tool_error).with_config(max_concurrency=1))
    graph.add_node("approve", approve)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", "approve", END])
    graph.add_edge("approve", "tools")
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=checkpointer)
