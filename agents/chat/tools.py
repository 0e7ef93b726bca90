"""The chat agent's tools: pydantic-validated arguments, text results, no shell and no
code of the model's own — each tool calls the run store or the loop's public API
(:class:`~agents.chat.control.RunControl`), and every parameter change goes through
the parameter's space. Errors come back to the model as text that says what to fix."""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Annotated, Any, Literal

from langchain_core.tools import BaseTool, InjectedToolCallId, StructuredTool
from langgraph.errors import GraphBubbleUp
from langgraph.prebuilt import InjectedState
from langgraph.prebuilt.tool_node import ToolInvocationError
from pydantic import Field

from agents.chat import _format as fmt
from agents.chat import views
from agents.chat._args import Args as _Args
from agents.chat._tradeoff import BestWithin, best_within
from agents.chat.control import RunControl
from agents.chat.model import RAW_ARGUMENTS
from trace_core.errors import TraceTuneError
from trace_core.llm.redact import redact_text

__all__ = ["make_tools", "tool_error", "is_yes", "TOOL_NAMES", "Bounds", "TOOL_SECONDS", "stuck_threads"]

log = logging.getLogger(__name__)


class NoArgs(_Args):
    pass


class ListRuns(_Args):
    limit: int = Field(10, ge=1, le=100, description="at most this many runs, newest first")
    task: str | None = Field(None, description="only runs of this task")


class ListTasks(_Args):
    name: str | None = Field(None, description="a task name: show its parameters and options")


class StartRun(_Args):
    task: str = Field(description="a registered task name (list_tasks shows them)")
    optimizer: str = Field("default", description="default, search, search:tpe, search:cmaes, search:gp, search:random, "
                                                  "optoprime, opro or evolution (LLM optimizers need TRACETUNE_LLM)")
    k: int = Field(1, ge=1, le=16, description="candidates proposed and evaluated per step")
    options: dict[str, Any] = Field(default_factory=dict, description="task options (list_tasks(name) shows them)")
    optimizer_options: dict[str, Any] = Field(default_factory=dict, description="optimizer settings")
    name: str | None = Field(None, description="a name for the run (default chat-<task>)")
    eval_timeout: float = Field(300.0, gt=0, le=86400, description="seconds one evaluation may take (kept with the "
                                                                    "run); past it the evaluation counts as failed")


class UseRun(_Args):
    run_id: str = Field(min_length=1, description="a run id or a unique prefix of one")


class RunSteps(_Args):
    steps: int = Field(ge=1, le=100, description="how many optimization steps to run now")
    max_tokens: int | None = Field(None, ge=1, description="optimizer LLM tokens these steps may spend")
    max_usd: float | None = Field(None, gt=0, description="optimizer LLM dollars these steps may spend")


class Accept(_Args):
    candidate: int | None = Field(None, ge=0, description="which candidate to apply (default: the best)")
    state: Annotated[dict[str, Any] | None, InjectedState] = None
    tool_call_id: Annotated[str, InjectedToolCallId]


class Rollback(_Args):
    step: int = Field(ge=0, description="the committed step whose values to restore")


class SetParameter(_Args):
    name: str = Field(description="the parameter's name (describe_parameters lists them)")
    value: Any = Field(description="the new value as JSON (a number, a string, an object ...)")
    reason: str | None = Field(None, description="why, for the run's history")


_UNSET = Literal["max_steps", "max_evaluations", "max_tokens", "max_usd", "chat_max_tokens", "chat_max_usd",
                 "chat_max_calls"]


class SetBudget(_Args):
    max_steps: int | None = Field(None, ge=0, description="total steps the run may have")
    max_evaluations: int | None = Field(None, ge=0, description="total candidate evaluations of the run")
    max_tokens: int | None = Field(None, ge=0, description="total optimizer LLM tokens of the run")
    max_usd: float | None = Field(None, ge=0, description="total optimizer LLM dollars of the run")
    chat_max_tokens: int | None = Field(None, ge=0, description="tokens the chat model may spend in this session")
    chat_max_usd: float | None = Field(None, ge=0, description="dollars the chat model may spend in this session")
    chat_max_calls: int | None = Field(None, ge=0, description="calls the chat model may make in this session")
    unset: list[_UNSET] = Field(default_factory=list, description="limits to remove")


class ShowStep(_Args):
    step: int | None = Field(None, ge=0, description="the step (default: the last one)")


class ExportBest(_Args):
    path: str | None = Field(None, description="a .json file relative to the working directory; omit to show the "
                                               "values here")
    step: int | None = Field(None, ge=0, description="export the values after this step instead of the best")
    overwrite: bool = False


class RenderReport(_Args):
    path: str | None = Field(None, description="an .html file relative to the working directory (default "
                                               ".tracetune/reports/<name>-<run>.html)")
    overwrite: bool = Field(False, description="replace the file if it exists (ask the person first)")


_YES = {"y", "yes", "ok", "okay", "sure", "approve", "approved", "accept", "apply", "go", "go ahead", "do it"}


def is_yes(answer: Any) -> bool:
    """Whether a person's answer to an approval question approves."""
    text = str(answer).strip().lower().rstrip(".!")
    return text in _YES or text.startswith(("yes ", "yes,", "y "))


def _accept(control: RunControl, a: Accept) -> str:
    if control.record.require_approval:
        control.pending()  # says so when nothing is pending
        answer = ((a.state or {}).get("approvals") or {}).get(a.tool_call_id)
        if answer is None:
            return "error: this session needs the user's approval to accept, and none was asked; call accept again"
        if not is_yes(answer):
            return (f"The user did not approve (answer: {str(answer)[:300]!r}); nothing was applied and the proposal "
                    "is still pending. Ask what they want, or reject it.")
    return control.accept(a.candidate)


def _budget(control: RunControl, a: SetBudget) -> str:
    run = {k: getattr(a, k) for k in ("max_steps", "max_evaluations", "max_tokens", "max_usd")}
    chat = {k[5:]: getattr(a, k) for k in ("chat_max_tokens", "chat_max_usd", "chat_max_calls")}
    return control.set_budget(run, chat, list(a.unset))


#: name -> (arguments, description, what it does)
_TOOLS: dict[str, tuple[type[_Args], str, Callable[[RunControl, Any], str]]] = {
    "list_runs": (ListRuns, "List the runs in the run store (the same runs `tracetune list` shows).",
                  lambda c, a: views.list_runs(c, a.limit, a.task)),
    "list_tasks": (ListTasks, "List the registered tasks, or show one task's parameters and options.",
                   lambda c, a: views.list_tasks(a.name)),
    "start_run": (StartRun, "Start a new run of a task and score its starting values (step 0); it becomes the "
                            "session's run. Nothing is optimized until run_steps or propose.",
                  lambda c, a: _start(c, a)),
    "use_run": (UseRun, "Make an existing run the session's run (to continue, inspect or export it).",
                lambda c, a: _use(c, a.run_id)),
    "describe_parameters": (NoArgs, "The run's parameters: names, spaces (what values are allowed), current "
                                    "values, and the last feedback and trace.",
                            lambda c, a: views.describe_parameters(c)),
    "show_run": (NoArgs, "The run's summary and its steps (scores, accepted or not, what each step did).",
                 lambda c, a: views.show_run(c)),
    "run_steps": (RunSteps, "Run N optimization steps now (propose, evaluate, keep the best if it beats the "
                            "incumbent), within the session limits and the given spending.",
                  lambda c, a: c.run_steps(a.steps, a.max_tokens, a.max_usd)),
    "propose": (NoArgs, "Propose and evaluate the next step's candidates WITHOUT applying them; shows each "
                        "candidate's values against the current ones and its score. Then accept or reject.",
                lambda c, a: c.propose()),
    "accept": (Accept, "Apply the pending proposal's best candidate (or `candidate`) as a committed step. "
                       "May ask the user for approval first.", _accept),
    "reject": (NoArgs, "Reject the pending proposal: the step is recorded, the values stay as they are.",
               lambda c, a: c.reject()),
    "rollback": (Rollback, "Restore the values of an earlier step (committed as a new step; nothing is deleted).",
                 lambda c, a: c.rollback(a.step)),
    "set_parameter": (SetParameter, "Set one parameter to a value the user gives; the parameter's space "
                                    "validates it, the new values are evaluated and committed as a step.",
                      lambda c, a: c.set_parameter(a.name, a.value, a.reason)),
    "set_budget": (SetBudget, "Change the session limits: totals the run may reach (steps, evaluations, optimizer "
                              "tokens and dollars; they replace the run's own budget from its job file, which "
                              "applies otherwise) and what the chat model may spend. Unset fields stay as they are.",
                   _budget),
    "show_costs": (NoArgs, "What the run spent (steps, evaluations, LLM calls, tokens, dollars) and the session "
                           "limits, and what the chat model spent.", lambda c, a: views.show_costs(c)),
    "show_step": (ShowStep, "One step in detail: its candidates, their values, scores, the optimizer's reasoning "
                            "and the feedback. Use it to explain why a score changed.",
                  lambda c, a: views.show_step(c, a.step)),
    "best_within": (BestWithin, "Answer trade-off questions over the run's evaluated candidates, such as \"the "
                                "cheapest candidate within 1 % of the best accuracy\": the best near_best, the "
                                "candidates within the tolerance of it, and among them the best on `then`.",
                    best_within),
    "export_best": (ExportBest, "The run's best parameter values as JSON, shown here or written to a .json file "
                                "inside the working directory.",
                    lambda c, a: views.export_best(c, a.path, a.step, a.overwrite)),
    "render_report": (RenderReport, "Write the run's self-contained HTML report (scores, costs, trace, parameter "
                                    "diffs, LLM calls) to a file inside the working directory.",
                      lambda c, a: views.render_report(c, a.path, a.overwrite)),
}
TOOL_NAMES = tuple(_TOOLS)


def _start(control: RunControl, a: StartRun) -> str:
    from agents.factory import optimizer_spec
    from agents.loop import optimize
    from optimizers.registry import is_registered, optimizer_names
    from tasks.registry import build_task
    from trace_core import Budget, RunFailed

    spec = {**optimizer_spec(a.optimizer), **a.optimizer_options}
    if not is_registered(spec["name"]):
        return f"error: unknown optimizer {a.optimizer!r}; use one of {', '.join(optimizer_names())}"
    task = build_task(a.task, **a.options)
    try:
        result = optimize(task, optimizer=spec, llm=control.optimizer_llm, budget=Budget(max_steps=0), k=a.k,
                          store=control.store, name=a.name or f"chat-{a.task}", timeout=a.eval_timeout,
                          extra_config={"chat_session": control.record.session_id})
        run_id, statuses = result.run_id, (result.history[0].statuses if result.history else [])
    except RunFailed as e:  # every example of the start failed: the run is stored as failed, and said so below
        result, run_id, statuses = None, e.run_id, [e.first_error.get("outcome", "failed")]
    with control.lock:
        if _ABANDONED.get().is_set():  # the turn went on without this call: leave the session's run alone
            return f"run {run_id} was started after its call was given up; use_run selects it"
        control.switch(run_id)
    started = f"Started run {run_id} (task {a.task}, optimizer {spec['name']})"
    if result is None or result.initial_score is None:  # describing it would trace the workflow again
        why = (f"the evaluation took longer than eval_timeout={a.eval_timeout:g} s" if "timeout" in statuses
               else "the evaluation failed")
        return (f"{started}, but its starting values could not be scored: {why}. show_step(step=0) shows the "
                "feedback; check the task options before running steps.")
    return (f"{started}; the starting values score {fmt.num(result.initial_score)} ({result.direction}).\n"
            + views.describe_parameters(control))


def _use(control: RunControl, run_id: str) -> str:
    row = control.store.get_run(run_id)
    previous = control.run_id
    control.switch(row["id"])
    try:
        return views.show_run(control)
    except TraceTuneError:
        control.switch(previous)
        raise


#: seconds a tool call may take before the turn goes on without it (ChatSession(tool_seconds=...))
TOOL_SECONDS = 900.0
_LOCK_WAIT = 2.0  # seconds to wait for a tool call of an earlier, stopped turn to let go of the run


_GIVEN_UP: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_ABANDONED: contextvars.ContextVar[threading.Event] = contextvars.ContextVar("chat_tool_abandoned")
_UNLOCKED = {"start_run"}  # makes a new run: holds the session's run only to switch to it at the end


class Bounds:
    """How long a tool call may run, and how Ctrl-C stops it: the first Ctrl-C sets ``stop``
    (a run stops after its current step, which gets ``grace`` seconds to finish and keep its
    answer), a second one sets ``hard`` (the turn goes on at once)."""

    def __init__(self, seconds: float = TOOL_SECONDS, grace: float = 5.0):
        self.seconds, self.grace = seconds, grace
        self.stop, self.hard = threading.Event(), threading.Event()

    def clear(self) -> None:
        """A new turn starts."""
        self.stop.clear()
        self.hard.clear()

    def press(self) -> None:
        """A Ctrl-C: the first asks to stop, the next stops waiting."""
        (self.hard if self.stop.is_set() else self.stop).set()


def stuck_threads() -> list[threading.Thread]:
    """Threads of tool calls that were given up on and still run (an evaluation that never
    ends cannot be stopped inside a process; the CLI exits without waiting for them)."""
    return [t for t in list(_GIVEN_UP) if t.is_alive()]


def _bounded(name: str, work: Callable[[], str], control: RunControl, bounds: Bounds) -> str:
    """``work()`` in a daemon thread; the answer comes back when it is done, when Ctrl-C sets
    ``bounds.stop``, or after ``bounds.seconds``, whichever is first. A call given up on is
    asked to stop (a run stops after its current step) and finishes in the background."""
    box: dict[str, Any] = {}
    done, abandoned = threading.Event(), threading.Event()

    def target() -> None:
        try:
            box["out"] = work()
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = e
        finally:
            done.set()

    context = contextvars.copy_context()
    context.run(_ABANDONED.set, abandoned)
    thread = threading.Thread(target=context.run, args=(target,), name=f"chat-tool-{name}", daemon=True)
    thread.start()
    deadline, asked = time.monotonic() + bounds.seconds, False
    while not done.wait(0.05):
        if bounds.stop.is_set() and not asked:  # the step in progress may still finish and answer
            asked, deadline = True, min(deadline, time.monotonic() + bounds.grace)
            control.cancel()
        if bounds.hard.is_set() or time.monotonic() >= deadline:
            abandoned.set()
            control.cancel()
            _GIVEN_UP.add(thread)
            why = ("was stopped by the person (Ctrl-C)" if asked
                   else f"took longer than its limit of {bounds.seconds:g} s")
            return (f"error: {name} {why} before it finished; it was asked to stop (a run stops after its current "
                    "step; an evaluation that never ends keeps its thread). Check with show_run what was committed, "
                    "and do not call it again with the same arguments unless the person asks.")
    if "error" in box:
        raise box["error"]
    return box["out"]


def _guarded(control: RunControl, name: str, args: type[_Args], fn: Callable[[RunControl, Any], str],
             bounds: Bounds) -> Callable[..., str]:
    def locked(kwargs: dict[str, Any]) -> str:
        if name in _UNLOCKED:
            return fn(control, args.model_validate(kwargs))
        if not control.lock.acquire(timeout=_LOCK_WAIT):
            raise TraceTuneError("a tool call of an earlier turn that was stopped is still running and holds the "
                                 "run; try again in a while, or start a new session")
        try:
            return fn(control, args.model_validate(kwargs))
        finally:
            control.lock.release()

    def call(**kwargs: Any) -> str:
        try:
            return fmt.cut(redact_text(_bounded(name, lambda: locked(kwargs), control, bounds)), fmt.MAX_TOOL_TEXT)
        except GraphBubbleUp:
            raise
        except TraceTuneError as e:
            return redact_text(f"error: {e}")
        except Exception as e:  # noqa: BLE001 - a tool never raises into the conversation
            log.warning("chat tool %s failed", name, exc_info=True)
            return redact_text(f"error: {name} failed with {type(e).__name__}: {e}")

    return call


def make_tools(control: RunControl, bounds: Bounds | None = None) -> list[BaseTool]:
    """The tools, bound to one session's :class:`RunControl` (each call within ``bounds``)."""
    bounds = bounds or Bounds()
    return [StructuredTool.from_function(func=_guarded(control, name, args, fn, bounds), name=name,
                                         description=text, args_schema=args)
            for name, (args, text, fn) in _TOOLS.items()]


def _signature(name: str) -> str:
    args = _TOOLS[name][0] if name in _TOOLS else None
    if args is None:
        return ""
    fields = [f"{n} ({'required' if f.is_required() else 'optional'}{': ' + f.description if f.description else ''})"
              for n, f in args.model_fields.items() if n not in ("state", "tool_call_id")]
    return f" {name} takes: {'; '.join(fields) or 'no arguments'}."


def _is_object(raw: Any) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (TypeError, ValueError):
        return False


def tool_error(e: Exception) -> str:
    """The ToolNode's message for a call it could not make (invalid arguments)."""
    if isinstance(e, ToolInvocationError):
        raw = e.tool_kwargs.get(RAW_ARGUMENTS)
        if raw is not None and _is_object(raw):
            return (f"error: the arguments of {e.tool_name} hold an integer too large to keep (beyond 64 bits, "
                    f"about ±9.2e18): {fmt.cut(str(raw), 300)!r}. Nothing was done; call it again with a smaller "
                    f"number (a float such as 1e30 if a huge value is meant).{_signature(e.tool_name)}")
        if raw is not None:
            return (f"error: the arguments of {e.tool_name} were not a JSON object ({fmt.cut(str(raw), 300)!r}); "
                    f"call it again with a JSON object.{_signature(e.tool_name)}")
        errors = e.filtered_errors if e.filtered_errors is not None else e.source.errors()
        found = "; ".join(f"{'.'.join(str(x) for x in err.get('loc', ())) or 'arguments'}: {err.get('msg')}"
                          for err in errors)
        return (f"error: invalid arguments for {e.tool_name}: {found}.{_signature(e.tool_name)} "
                "Fix the arguments and call it again.")
    log.warning("chat tool call failed", exc_info=e)
    return f"error: {type(e).__name__}: {e}"
