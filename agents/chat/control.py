"""The run side of a chat session: what its tools do to the run store and the run.

One :class:`RunControl` per session holds the current run (rebuilt with
:func:`agents.loop.open_run` and reopened when the store moved on without it, e.g.
after ``tracetune resume``), at most one pending proposal (kept in the session record,
so it outlives the process), and the session limits.
Every change is a committed step of the run, so the CLI and the report see it.
Methods return text for the chat model and raise :class:`~trace_core.errors.TraceTuneError`
subclasses with messages that say what to do.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from agents.chat import _format as fmt
from agents.chat import _pending
from agents.chat.context import ChatLimits, RunLimits, SessionRecord, SessionTable
from agents.loop import Run, drive, open_run
from agents.records import Candidate, Proposal
from agents.store import RunStore
from trace_core import better, score
from trace_core.budget import format_usd
from trace_core.errors import ConfigError

__all__ = ["RunControl"]

log = logging.getLogger(__name__)


def _cap(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


class RunControl:
    """The current run of a chat session and the operations on it.

    Example:
        >>> from agents.chat.context import SessionRecord, SessionTable
        >>> control = RunControl(RunStore("sqlite://"), SessionRecord(session_id="s"), SessionTable(":memory:"))
        >>> control.run_id is None
        True
    """

    def __init__(self, store: RunStore, record: SessionRecord, table: SessionTable, *, workdir: Path | None = None,
                 optimizer_llm: Any = None):
        self.store, self.record, self.table = store, record, table
        self.workdir = (workdir or Path.cwd()).resolve()
        self.optimizer_llm = optimizer_llm
        self.lock = threading.RLock()  # one tool at a time touches the run
        self.on_chat_limits: Any = None  # called with ChatLimits when set_budget changes them
        self._run: Run | None = None
        self._pending: Proposal | None = None
        self._pending_step = -1
        self._turn = self._cancelled = 0

    # -- the session ------------------------------------------------------------------
    @property
    def run_id(self) -> str | None:
        return self.record.run_id

    def save(self) -> None:
        self.table.save(self.record)

    def begin_turn(self) -> None:
        """A new turn of the conversation starts (what :meth:`cancel` stops)."""
        self._turn += 1

    def cancel(self) -> None:
        """Ask the tools of this turn (and any earlier one still running) to stop after the
        step in progress (Ctrl-C)."""
        self._cancelled = self._turn

    def switch(self, run_id: str | None) -> None:
        """Make ``run_id`` the session's run (dropping any open run and proposal)."""
        self._close_run()
        self.record.run_id, self.record.pending = run_id, None
        self.save()

    def run(self) -> Run:
        """The current run, reopened from the store when it moved on without this session."""
        if not self.record.run_id:
            raise ConfigError("no run is selected: start one with start_run, or pick one with use_run "
                              "(list_runs shows the runs)")
        last = self.store.last_step(self.record.run_id)
        current = self._run
        if current is None or current.run_id != self.record.run_id or (last and last["step"] != current.step):
            self._close_run()
            self._run = open_run(self.record.run_id, store=self.store, llm=self.optimizer_llm)
        return self._run

    def _close_run(self) -> None:
        if self._run is not None:
            self._run.close()
        self._run, self._pending = None, None

    def close(self) -> None:
        self._close_run()

    def forget_run_state(self) -> None:
        """After a cancelled turn: rebuild the run from the store next time (its in-memory
        optimizer may have seen a step that was never committed). A tool still running in
        a worker thread keeps its run until it finishes."""
        if self.lock.acquire(blocking=False):
            try:
                self._close_run()
            finally:
                self.lock.release()
        else:
            self._run, self._pending = None, None

    # -- budgets -----------------------------------------------------------------------
    def limit(self, run: Run, steps: int, max_tokens: int | None = None, max_usd: float | None = None) -> str:
        """Set the run's budget for ``steps`` more steps; returns a note when a limit cut the request.

        Each limit is the session's when set (set_budget), else the run's own (its job file's
        budget, as stored), tightened by ``max_tokens`` / ``max_usd`` for these steps. The
        budget is cumulative over the run (restored from the store); the stored one keeps the
        run's own limits, so `tracetune resume` still honours them."""
        budget, caps, spent = run.budget, self.record.limits, run.budget.spent
        row = self.store.get_run(run.run_id)
        own = dict((row.get("config") or {}).get("budget") or {})
        done = int(spent["steps"])
        target, note = done + steps, ""
        if caps.max_steps is not None and target > caps.max_steps:
            if caps.max_steps <= done:
                raise ConfigError(f"the session limit max_steps={caps.max_steps} is reached (the run has "
                                  f"{done} steps); raise it with set_budget")
            target, note = caps.max_steps, f" (cut to {caps.max_steps - done} by the session limit max_steps)"

        def cap(name: str, extra: float | None = None) -> Any:
            session = getattr(caps, name)
            return _cap(session if session is not None else own.get(name), extra)

        budget.max_steps = target
        budget.max_evaluations = cap("max_evaluations")
        budget.max_tokens = cap("max_tokens", None if max_tokens is None else int(spent["tokens"]) + max_tokens)
        budget.max_usd = cap("max_usd", None if max_usd is None else spent["usd"] + max_usd)
        budget.max_calls = own.get("max_calls")
        budget.max_seconds = None  # a wall-clock limit of one process; a chat has no deadline
        left = budget.exhausted()
        if left and left != "max_steps":
            whose = "session limit" if getattr(caps, left, None) is not None else "run's own budget"
            raise ConfigError(f"the {whose} {left} is already reached ({budget.describe()}); raise it with "
                              "set_budget")
        kept = {**own, **{k: v for k, v in caps.model_dump().items() if v is not None}, "max_steps": target}
        self.store.update_run(run.run_id, config={**(row.get("config") or {}), "budget": kept})
        return note

    def set_budget(self, limits: dict[str, Any], chat: dict[str, Any], unset: list[str]) -> str:
        """Change the session limits (None leaves one as it is; ``unset`` removes limits)."""
        run_caps = self.record.limits.model_dump()
        chat_caps = self.record.chat_limits.model_dump()
        for name in unset:
            if name.startswith("chat_"):
                chat_caps[name[5:]] = None
            else:
                run_caps[name] = None
        run_caps.update({k: v for k, v in limits.items() if v is not None})
        chat_caps.update({k: v for k, v in chat.items() if v is not None})
        self.record.limits, self.record.chat_limits = RunLimits(**run_caps), ChatLimits(**chat_caps)
        self.save()
        if self.on_chat_limits is not None:
            self.on_chat_limits(self.record.chat_limits)
        return self.describe_limits()

    def describe_limits(self) -> str:
        def show(caps: Any) -> str:
            return ", ".join(f"{k}={fmt.num(v)}" for k, v in caps.model_dump().items() if v is not None) or "none"

        return (f"Session limits on the run's totals: {show(self.record.limits)}.\n"
                f"Chat model limits for this session: {show(self.record.chat_limits)}; chat model spent so far: "
                + (", ".join(f"{k} {fmt.num(v)}" for k, v in self.record.chat_spent.items() if v and k != "seconds")
                   or "nothing"))

    # -- steps ---------------------------------------------------------------------------
    def run_steps(self, steps: int, max_tokens: int | None, max_usd: float | None) -> str:
        run = self.run()
        if self._current(run) is not None:
            raise ConfigError(f"a proposal for step {self._pending_step + 1} is pending: accept or reject it first")
        note = self.limit(run, steps, max_tokens, max_usd)
        turn = self._turn
        run.should_stop = lambda: self._cancelled >= turn
        before = len(run.history)
        log.info("chat session %s: run %s, %d step(s)%s", self.record.session_id, run.run_id, steps, note)
        try:
            reason = drive(run, label="chat: ").stop_reason
        except BaseException:
            self.forget_run_state()
            raise
        finally:
            run.should_stop = None
        lines = [f"Ran {len(run.history) - before} step(s) of run {run.run_id}{note}; stopped: {reason}."]
        for rec in run.history[before:]:
            lines.append(f"step {rec.step}: candidates {', '.join(fmt.num(s) for s in rec.candidate_scores) or 'none'}"
                         f"; {'accepted' if rec.accepted else 'kept the incumbent'}; best so far "
                         f"{fmt.num(rec.incumbent_score)}; tokens {rec.tokens}, {format_usd(rec.cost_usd)}")
        spent = run.budget.spent
        lines.append(f"Best so far {fmt.num(run.incumbent_score)} (started at {fmt.num(run.initial_score)}, "
                     f"{run.direction}); the run has {spent['steps']:g} steps and {spent['evaluations']:g} "
                     f"evaluations in all, {spent['tokens']:g} optimizer tokens, "
                     f"{format_usd(spent['usd'], spent.get('unpriced_calls', 0))}.")
        return "\n".join(lines)

    def propose(self) -> str:
        run = self.run()
        if self._current(run) is not None:
            return "A proposal is already pending (accept or reject it):\n" + self.describe_pending()
        self.limit(run, 1)
        pending = run.propose_step()
        if not pending.todo:
            rec = run.finish_step(pending, accept=False)
            why = "; ".join(u.reasoning for u in pending.updates if u.reasoning)[:800]
            return f"The optimizer proposes no change ({why or 'no reason given'}); recorded as step {rec.step}."
        self._keep(run, pending)
        return self.describe_pending()

    def _keep(self, run: Run, pending: Proposal | None) -> None:
        """Hold ``pending`` as the proposal of the run's current step, in memory and in the session record."""
        self._pending, self._pending_step = pending, run.step
        try:
            self.record.pending = None if pending is None else _pending.dump(run, pending)
        except (TypeError, ValueError) as e:  # kept in memory only: a restart drops it
            log.warning("the proposal of run %s cannot be kept with the session: %s", run.run_id, e)
            self.record.pending = None
        self.save()

    def _current(self, run: Run) -> Proposal | None:
        """The proposal pending at the run's current step; after a restart, the one kept in the record."""
        if self._pending is None and self.record.pending:
            self._keep(run, _pending.load(run, self.record.pending))
        elif self._pending is not None and self._pending_step != run.step:
            self._keep(run, None)
        return self._pending

    def pending(self) -> Proposal:
        pending = self._current(self.run())
        if pending is None:
            raise ConfigError("no proposal is pending (a change of the run since it was proposed drops it); "
                              "call propose first")
        return pending

    def _candidate(self, pending: Proposal, candidate: int | None) -> int:
        i = pending.best if candidate is None else candidate
        if i is None:
            raise ConfigError("no candidate of this proposal has a score (all failed); reject it")
        if not 0 <= i < len(pending.todo):
            raise ConfigError(f"there is no candidate {i}; candidates are 0 to {len(pending.todo) - 1}")
        if score(pending.results[i].feedback) is None:
            raise ConfigError(f"candidate {i} failed its evaluation and cannot be applied; reject it or pick another")
        return i

    def describe_pending(self) -> str:
        """The pending proposal for the model: each candidate against the current values."""
        return "\n".join([*self._pending_lines(), "Nothing is applied yet: accept (optionally candidate=N) applies "
                          "it as a step; reject records the step and keeps the current values."])

    def _pending_lines(self) -> list[str]:
        run, pending = self.run(), self.pending()
        live = run.opt.values()
        lines = [f"Proposal for step {run.step + 1} of run {run.run_id}: {len(pending.todo)} candidate(s) evaluated; "
                 f"incumbent score {fmt.num(run.incumbent_score)} ({run.direction})."]
        for i, (update, result) in enumerate(zip(pending.todo, pending.results)):
            s = score(result.feedback)
            verdict = ("failed" if s is None else "better than the incumbent" if better(s, run.incumbent_score,
                       run.direction) else "not better than the incumbent")
            lines.append(f"Candidate {i}{' (best)' if i == pending.best else ''}: score {fmt.num(s)}, {verdict}")
            lines += fmt.diff(live, update.values, 4000)
            if update.reasoning:
                lines.append("  reasoning: " + fmt.cut(" ".join(update.reasoning.split()), 800))
            lines.append("  feedback: " + fmt.feedback_line(result.feedback.model_dump(mode="json")))
        skipped = len(pending.updates) - len(pending.todo)
        if skipped:
            lines.append(f"({skipped} more proposal(s) said 'no change'.)")
        return lines

    def approval_question(self, candidate: Any = None) -> str | None:
        """What to ask the person before ``accept``, or None when nothing is pending."""
        try:
            text = "\n".join(self._pending_lines())
        except ConfigError:
            return None
        which = f"candidate {candidate}" if isinstance(candidate, int) else "the best candidate"
        return f"{text}\nApply {which}? Answer yes or no (or say what you want instead)."

    def accept(self, candidate: int | None) -> str:
        run, pending = self.run(), self.pending()
        i = self._candidate(pending, candidate)
        before, was = run.opt.values(), run.incumbent_score
        rec = run.finish_step(pending.choose(i), accept=True)
        log.info("chat session %s: run %s, candidate %d applied as step %d", self.record.session_id, run.run_id, i,
                 rec.step)
        self._keep(run, None)
        worse = "" if not better(was, rec.incumbent_score, run.direction) else (
            "; that is worse than before, and these values are now the run's current and exported best (roll back "
            "to undo)")
        return (f"Applied candidate {i} as step {rec.step}; the values now score {fmt.num(rec.incumbent_score)} "
                f"(before: {fmt.num(was)}, {run.direction}){worse}.\n" + "\n".join(fmt.diff(before, run.opt.values())))

    def reject(self) -> str:
        run, pending = self.run(), self.pending()
        rec = run.finish_step(pending, accept=False)
        self._keep(run, None)
        return (f"Rejected: step {rec.step} is recorded with its candidates, values unchanged "
                f"(best so far {fmt.num(rec.incumbent_score)}).")

    def _drop_pending(self, run: Run) -> str:
        if self._current(run) is None:
            return ""
        self._keep(run, None)
        return "The pending proposal was dropped. "

    def rollback(self, step: int) -> str:
        run = self.run()
        if not 0 <= step <= run.step:
            raise ConfigError(f"run {run.run_id} has steps 0 to {run.step}; pick one of them")
        dropped = self._drop_pending(run)
        before = run.opt.values()
        rec = run.restore(step)
        log.info("chat session %s: run %s rolled back to step %d", self.record.session_id, run.run_id, step)
        return (f"{dropped}Rolled back: step {rec.step} restores the values of step {step} (best so far "
                f"{fmt.num(rec.incumbent_score)}).\n" + "\n".join(fmt.diff(before, run.opt.values())))

    def set_parameter(self, name: str, value: Any, reason: str | None) -> str:
        from agents.executors import Job

        run = self.run()
        # the parameter's space checks and coerces the value, once
        update = run.opt.update({name: value}, reasoning=reason or "set by the user in the chat")
        clean = update.values
        dropped = self._drop_pending(run)
        self.limit(run, 1)
        before = run.opt.values()
        values = {**before, **clean}
        result = run.evaluate([Job(values, list(run.task.val))])[0]
        run.opt.observe(values, result.feedback, update=update)
        proposal = Proposal((Candidate(update, run.encode(clean), result),), 0, started=time.perf_counter())
        rec = run.finish_step(proposal, accept=True)
        return (f"{dropped}Set {name} as step {rec.step}; its evaluation scored {fmt.num(score(result.feedback))} "
                f"({fmt.feedback_line(result.feedback.model_dump(mode='json'), 300)}).\n"
                + "\n".join(fmt.diff(before, run.opt.values())))

    # -- files -------------------------------------------------------------------------------
    def safe_path(self, text: str, suffixes: tuple[str, ...], overwrite: bool) -> Path:
        """``text`` as a path inside the working directory, or a ConfigError saying why not."""
        path = Path(text)
        if path.is_absolute() or text.startswith("~"):
            raise ConfigError(f"{text!r} is not a relative path; give a path relative to the working directory")
        full = (self.workdir / path).resolve()
        if not full.is_relative_to(self.workdir):
            raise ConfigError(f"{text!r} leaves the working directory; give a path inside it")
        if full.suffix.lower() not in suffixes:
            raise ConfigError(f"{text!r} must end with {' or '.join(suffixes)}")
        if full.exists() and not overwrite:
            raise ConfigError(f"{text!r} exists; pass overwrite=true to replace it")
        return full
