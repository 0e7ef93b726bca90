"""``ChatSession``: talk to tracetune about a run, from Python or from the REPL.

The conversation lives in a SQLite checkpointer (langgraph-checkpoint-sqlite) keyed
by the session id; the session's context (its run, store, limits, what its chat model
spent) in a table of the same file. A new process that opens the same session id
continues with its history and context intact.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.errors import GraphRecursionError
from langgraph.types import Command

from agents.chat import _format as fmt
from agents.chat.context import ChatLimits, SessionRecord, SessionTable
from agents.chat.control import RunControl
from agents.chat.graph import build_graph
from agents.chat.model import LayerChatModel, chat_spec_from_env, to_openai_messages
from agents.chat.tools import TOOL_SECONDS, Bounds
from agents.store import RunStore, open_store
from trace_core import Budget, prompts
from trace_core.errors import ConfigError, TraceTuneError

__all__ = ["ChatSession", "ChatEvent", "chat_llm", "default_db_path", "CANCELLED"]

log = logging.getLogger(__name__)

ENV_CHAT_LLM = "TRACETUNE_CHAT_LLM"
ENV_CHAT_DB = "TRACETUNE_CHAT_DB"
_MAX_ROUNDS = 30  # model calls with tool calls in one turn (the graph's recursion limit)
CANCELLED = ("cancelled: the person stopped this turn (Ctrl-C) before the tool finished; a run may have committed "
             "the step that was in progress (show_run tells)")


def default_db_path() -> Path:
    """``$TRACETUNE_CHAT_DB`` or ``.tracetune/chat.db``."""
    return Path(os.environ.get(ENV_CHAT_DB) or ".tracetune/chat.db")


def chat_llm(spec: Any = None, **middleware: Any) -> Any:
    """The chat model's LLM from the LLM layer, with ``middleware`` (budget, cache, log ...) around it.

    ``spec`` is an LLM, a model string, a mapping, or None for ``$TRACETUNE_CHAT_LLM``
    and then ``$TRACETUNE_LLM`` (with their ``_API_BASE`` / ``_TIMEOUT`` settings, see
    :func:`agents.chat.model.chat_spec_from_env`). ``scripted:<file.json>`` is a test hook: a JSON list
    of replies for :class:`~trace_core.llm.ScriptedLLM`, each a string or
    ``{"text": ..., "tool_calls": [{"name": ..., "arguments": {...}}]}``.
    """
    from trace_core.llm import ScriptedLLM, resolve_llm

    if spec is None:
        spec = chat_spec_from_env()
    if isinstance(spec, str) and spec.startswith("scripted:"):
        spec = ScriptedLLM(_scripted(spec[len("scripted:"):]), model="scripted")
    llm = resolve_llm(spec, **middleware)
    if llm is None:
        raise ConfigError("the chat needs an LLM that can call tools: set TRACETUNE_LLM (e.g. openai/gpt-4o-mini) "
                          "or TRACETUNE_CHAT_LLM, or pass llm=")
    return llm


def _scripted(path: str) -> list[Any]:
    import json

    try:
        replies = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read scripted chat replies {path!r}: {e}") from None
    if not isinstance(replies, list) or not replies:
        raise ConfigError(f"scripted chat replies {path!r} must be a non-empty JSON list")
    return replies


def _lasting_url(store: RunStore) -> str | None:
    """The store's URL as a later process can open it: SQLite paths made absolute; None
    for an in-memory store or a URL with a password (never kept in the session file)."""
    url = store.engine.url
    if url.password is not None:
        return None
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        return f"sqlite:///{Path(url.database).resolve()}"
    return store.url


def _question(value: Any) -> str:
    return str(value.get("question", value)) if isinstance(value, dict) else str(value)


def _unanswered(messages: list[Any]) -> list[dict[str, Any]]:
    """The tool calls of the last model message that have no tool message yet."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if isinstance(m, AIMessage):
            answered = {t.tool_call_id for t in messages[i + 1:] if isinstance(t, ToolMessage)}
            return [tc for tc in m.tool_calls if tc["id"] not in answered]
        if not isinstance(m, ToolMessage):
            return []
    return []


class ChatEvent(tuple):
    """``(kind, data)``: ``("text", chunk)``, ``("tool_call", {"name", "args"})``,
    ``("tool_result", {"name", "content"})`` or ``("question", text)``.

    Example:
        >>> ChatEvent("text", "Hello").kind
        'text'
    """

    __slots__ = ()

    def __new__(cls, kind: str, data: Any) -> ChatEvent:
        return super().__new__(cls, (kind, data))

    @property
    def kind(self) -> str:
        return self[0]

    @property
    def data(self) -> Any:
        return self[1]


class ChatSession:
    """A conversation that drives optimization runs through tools.

    Args:
        session_id: continue this session (its messages and context); None starts a new one.
        llm: the chat model's LLM (object, model string, mapping; None: ``$TRACETUNE_CHAT_LLM`` /
            ``$TRACETUNE_LLM``); the cache, retries, the session's chat budget and the log go around it.
        store: the run store (default: the one the session used, else ``$TRACETUNE_STORE`` / ``.tracetune/runs.db``).
        db_path: the session file (default ``$TRACETUNE_CHAT_DB`` or ``.tracetune/chat.db``).
        run_id: make this run the session's run.
        require_approval: ask the person before a proposal is accepted (kept with the session).
        chat_limits: limits on the chat model's spending (``max_tokens``, ``max_usd``, ``max_calls``).
        optimizer_llm: the LLM for the runs' optimizers (default: the run's, or ``$TRACETUNE_LLM``).
        cache, log_path: the chat model's response cache and JSONL call log (default: none and
            ``<db folder>/chat-llm.jsonl``).
        tool_seconds: the longest a tool call may take; past it (or at Ctrl-C) the model is told it
            was stopped, and a run it started stops after its current step.

    Example:
        >>> import tempfile
        >>> from trace_core.llm import ScriptedLLM
        >>> d = tempfile.mkdtemp()
        >>> chat = ChatSession(llm=ScriptedLLM(["Hello!"]), db_path=f"{d}/chat.db", store=f"{d}/runs.db")
        >>> chat.send("hi")
        'Hello!'
    """

    def __init__(self, session_id: str | None = None, llm: Any = None, store: RunStore | str | None = None,
                 db_path: str | os.PathLike[str] | None = None, run_id: str | None = None,
                 require_approval: bool | None = None, *, chat_limits: Mapping[str, Any] | None = None,
                 optimizer_llm: Any = None, cache: Any = None, log_path: str | os.PathLike[str] | None = None,
                 workdir: str | os.PathLike[str] | None = None, tool_seconds: float = TOOL_SECONDS) -> None:
        self.db_path = Path(db_path) if db_path is not None else default_db_path()
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.table = SessionTable(self.db_path)
        self.session_id = session_id or uuid.uuid4().hex[:10]
        record = self.table.load(self.session_id) or SessionRecord(session_id=self.session_id)
        if require_approval is not None:
            record.require_approval = require_approval
        if chat_limits is not None:
            record.chat_limits = ChatLimits(**{**record.chat_limits.model_dump(), **dict(chat_limits)})
        self._own_store = not isinstance(store, RunStore)
        try:
            self.store = open_store(store if store is not None else record.store_url)
        except ConfigError:  # an unusable store (StoreError names it): hold no files open
            self.table.close()
            raise
        record.store_url = _lasting_url(self.store) or record.store_url
        self.chat_budget = Budget(**record.chat_limits.model_dump())
        self.chat_budget.restore(record.chat_spent)
        self.llm = chat_llm(llm, budget=self.chat_budget, cache=cache, retry=True,
                            log_path=log_path or self.db_path.parent / "chat-llm.jsonl")
        self.control = RunControl(self.store, record, self.table, workdir=Path(workdir) if workdir else None,
                                  optimizer_llm=optimizer_llm)
        self.control.on_chat_limits = self._set_chat_limits
        try:
            row = self.store.get_run(run_id) if run_id is not None else None
        except ConfigError:  # no such run: keep no record of this attempt, hold no files open
            self.table.close()
            if self._own_store:
                self.store.close()
            raise
        self.table.save(record)
        if row is not None and row["id"] != record.run_id:
            self.control.switch(row["id"])
        log.info("chat session %s (%s), run %s, store %s", self.session_id, self.db_path, record.run_id,
                 self.store.safe_url)
        self._conn = sqlite3.connect(str(self.db_path), check_same_thread=False)
        self.bounds = Bounds(tool_seconds)
        self.graph = build_graph(LayerChatModel(llm=self.llm), self.control, system_prompt=self.system_prompt,
                                 checkpointer=SqliteSaver(self._conn), bounds=self.bounds)
        self.on_cancel: Callable[[], None] | None = None

    # -- context ------------------------------------------------------------------------
    @property
    def record(self) -> SessionRecord:
        return self.control.record

    @property
    def run_id(self) -> str | None:
        """The run this session drives."""
        return self.control.run_id

    @property
    def _config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.session_id}, "recursion_limit": 2 * _MAX_ROUNDS + 2}

    def _set_chat_limits(self, limits: ChatLimits) -> None:
        for name, value in limits.model_dump().items():
            setattr(self.chat_budget, name, value)

    def system_prompt(self) -> str:
        """The system message for the next model call (it shows the session's run)."""
        approval = ("this session asks the person before a proposal is applied: when you call accept, the person "
                    "is asked and the tool tells you the answer." if self.record.require_approval else
                    "not required; still, accept only what the person asked for.")
        return prompts.render("chat/system", approval=approval, session_id=self.session_id, state=self._state())

    def _state(self) -> str:
        if not self.run_id:
            return f"No run is selected yet. Run store: {self.store.safe_url}."
        try:
            row = self.store.get_run(self.run_id)
        except ConfigError:
            return f"The session's run {self.run_id} is not in {self.store.safe_url} any more."
        last = self.store.last_step(row["id"]) or {}
        return (f"Current run: {row['id']} ({row['name']}, task {row.get('task')}, {row.get('direction')}), "
                f"{last.get('step', 0)} step(s), best so far {fmt.num(row.get('best_score'))} (started at "
                f"{fmt.num(row.get('initial_score'))}). Run store: {self.store.safe_url}.")

    # -- turns -------------------------------------------------------------------------
    @property
    def question(self) -> str | None:
        """The approval question the session waits on, if any (answer it with :meth:`send`)."""
        for item in self.graph.get_state(self._config).interrupts:
            return _question(item.value)
        return None

    def _input(self, text: str) -> Any:
        state = self.graph.get_state(self._config)
        if state.interrupts:
            return Command(resume=text)
        # a turn stopped (Ctrl-C) after its tools finished: their results are pending writes that a
        # new input would drop, so commit them; tools that did not finish are answered "cancelled"
        finished = [t for t in state.tasks if t.name == "tools" and t.result is not None and not t.error]
        for task in finished:
            self.graph.update_state(self._config, task.result, as_node="tools")
        messages = (self.graph.get_state(self._config) if finished else state).values.get("messages") or []
        calls = _unanswered(messages)
        if calls:
            self.graph.update_state(self._config, {"messages": [
                ToolMessage(CANCELLED, tool_call_id=tc["id"], name=tc["name"]) for tc in calls]}, as_node="tools")
        return {"messages": [HumanMessage(text)]}

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """Ctrl-C asks a running tool to stop after its step and waits ``bounds.grace`` seconds
        for its answer; a second Ctrl-C, or the tool's time limit, ends the turn without it (see
        :class:`~agents.chat.tools.Bounds`)."""
        previous = None
        self.control.begin_turn()
        self.bounds.clear()
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)

            def on_sigint(signum: int, frame: Any) -> None:
                self.bounds.press()
                self.control.cancel()
                if self.on_cancel is not None:
                    self.on_cancel()
                if callable(previous):
                    previous(signum, frame)
                raise KeyboardInterrupt

            signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        except GraphRecursionError:
            raise TraceTuneError(f"this turn made more than {_MAX_ROUNDS} rounds of tool calls and was stopped; the "
                                 "session is kept: ask again, in smaller parts") from None
        except KeyboardInterrupt:
            self.bounds.stop.set()
            self.control.cancel()
            self.control.forget_run_state()
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            self.record.chat_spent = self.chat_budget.spent
            self.table.save(self.record)

    def send(self, text: str) -> str:
        """Send a message (or the answer to a pending approval question); returns the final
        answer, or the question the session now waits on."""
        with self._turn():
            out = self.graph.invoke(self._input(text), self._config)
        if out.get("__interrupt__"):
            return self.question or ""
        last = out["messages"][-1]
        return last.content if isinstance(last.content, str) else str(last.content)

    def events(self, text: str) -> Iterator[ChatEvent]:
        """Send a message and yield what happens: text chunks as the model writes them,
        tool calls and their results, and a question when approval is asked."""
        with self._turn():
            for mode, payload in self.graph.stream(self._input(text), self._config,
                                                   stream_mode=["messages", "updates"]):
                if mode == "messages":
                    chunk, meta = payload
                    if meta.get("langgraph_node") == "agent" and isinstance(chunk, AIMessageChunk) and chunk.content:
                        yield ChatEvent("text", chunk.content)
                    continue
                for node, update in payload.items():
                    if node == "__interrupt__":
                        for item in update:
                            yield ChatEvent("question", _question(item.value))
                        continue
                    for m in (update or {}).get("messages", []) if isinstance(update, dict) else []:
                        if isinstance(m, AIMessage):
                            for tc in m.tool_calls:
                                yield ChatEvent("tool_call", {"name": tc["name"], "args": tc["args"]})
                        elif isinstance(m, ToolMessage):
                            yield ChatEvent("tool_result", {"name": m.name, "content": m.content})

    def stream(self, text: str) -> Iterator[str]:
        """Send a message and yield the answer's text as it is written (and an approval
        question, if one is asked)."""
        for event in self.events(text):
            if event.kind == "text":
                yield event.data
            elif event.kind == "question":
                yield event.data

    def history(self) -> list[dict[str, Any]]:
        """The conversation so far as OpenAI-style messages (user, assistant, tool)."""
        state = self.graph.get_state(self._config)
        return to_openai_messages(state.values.get("messages") or [])

    @staticmethod
    def sessions(db_path: str | os.PathLike[str] | None = None, limit: int = 20) -> list[SessionRecord]:
        """The sessions stored in ``db_path``, most recently used first."""
        path = Path(db_path) if db_path is not None else default_db_path()
        if not path.exists():
            return []
        table = SessionTable(path)
        try:
            return table.list(limit)
        finally:
            table.close()

    def close(self) -> None:
        """Release the run, the store connections and the session file."""
        from agents.chat.tools import stuck_threads

        if stuck_threads():
            log.warning("a tool call that was stopped is still running in a thread (%s); a Python process waits "
                        "for it when it exits (`tracetune chat` does not)", ", ".join(t.name for t in stuck_threads()))
        self.control.close()
        self._conn.close()
        self.table.close()
        if self._own_store:
            self.store.close()

    def __enter__(self) -> ChatSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
