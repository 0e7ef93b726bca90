"""One step of a run: forward -> feedback -> backward -> propose k -> evaluate -> observe
-> accept the best if it beats the incumbent, and its commit to the run store as a
:class:`~agents.records.StepOutcome`. :class:`Run` holds the state between steps; how a
run is built, driven to its end and resumed is in :mod:`agents.loop`, the traced half of
a step in :mod:`agents._forward`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agents._failures import describe_error, first_error
from agents._front import Front
from agents._forward import forward
from agents.evaluate import EvalResult
from agents.executors import Executor, Job
from agents.records import Candidate, Proposal, RunResult, StepOutcome, StepRecord, Tally, best_of
from agents.store import RunStore
from optimizers._values import to_json_values
from optimizers.base import ProposalFailure, Update
from trace_core import Budget, better
from trace_core.errors import BudgetExceeded, RunFailed, TaskError
from trace_core.feedback import Direction
from trace_core.llm.errors import FatalLLMError
from trace_core.outcome import Outcome

__all__ = ["Run"]

log = logging.getLogger("agents.loop")  # the run's log, under the name of the public module (the CLI filters it)
_MAX_LLM_FAILURES = 3


class Run:
    """The state of one run while it is optimized (see :func:`open_run`)."""

    owns_executor = True

    def __init__(self, task: Any, optimizer: Any, store: RunStore, run_id: str, *, budget: Budget, k: int,
                 executor: Executor, seed: int, minibatch: int | None, on_step: Callable[[StepRecord], None] | None,
                 should_stop: Callable[[], bool] | None, target: float | None, evaluate_start: bool = True):
        self.task, self.opt, self.store, self.run_id = task, optimizer, store, run_id
        self.budget, self.k, self.executor, self.seed = budget, k, executor, seed
        self.minibatch, self.on_step, self.should_stop, self.target = minibatch, on_step, should_stop, target
        self.evaluate_start = evaluate_start
        self.direction: Direction = task.direction
        self.params = optimizer.by_name
        self.history: list[StepRecord] = []
        self.step = 0
        self.incumbent_score: float | None = None
        self.initial_score: float | None = None
        self.tokens = 0
        self.cost: float | None = 0.0  # None: the price of a call is unknown
        self.tally = Tally()
        self.llm_failures = 0  # steps in a row whose every proposal failed because the LLM call did
        self.first_error: dict[str, Any] | None = None  # the run's first failed evaluation (stored with the run)
        self.measured = False  # whether a candidate was evaluated yet
        self.start_failed = False  # every candidate of the first evaluated step failed
        self.front = Front.for_task(task)  # a multi-objective task: the run keeps a front (agents._front)

    def encode(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values as JSON data (the one encoder: each parameter's space)."""
        return to_json_values(self.params, values)

    # -- stopping ----------------------------------------------------------------------
    def stop_reason(self) -> str | None:
        if self.should_stop is not None and self.should_stop():
            return "interrupted"
        if self.target is not None and self.incumbent_score is not None and not better(
            self.target, self.incumbent_score, self.direction
        ):
            return "target reached"
        limit = self.budget.exhausted()
        if limit:
            return f"budget {limit} reached"
        return None

    # -- the phases of a step ---------------------------------------------------------------
    def evaluate(self, jobs: Sequence[Job]) -> list[EvalResult]:
        self.budget.charge(evaluations=len(jobs))
        results = self.executor.evaluate(jobs)
        for r in results:
            if r.outcome is Outcome.SYSTEMIC:
                raise TaskError(f"the task failed as a whole, not on one example: {r.feedback.text}")
            if r.outcome is Outcome.BUDGET:
                raise BudgetExceeded(r.feedback.text, limit=r.feedback.details.get("limit"))
        return results

    def baseline(self) -> None:
        """Step 0: the starting values, scored unless ``evaluate_start`` is False."""
        values = self.opt.values()
        start = Candidate(self.opt.update({}, reasoning="starting values"), self.encode(values))
        if self.evaluate_start:
            result = self.evaluate([Job(values, list(self.task.val))])[0]
            self.opt.observe(values, result.feedback)
            start = Candidate(start.update, start.values, result)
            self.incumbent_score = self.initial_score = start.score
            if self.front is not None:
                self.front.offer(0, (start,))
                self.incumbent_score = self.front.best_score()
        self.commit(0, (start,), accepted=True)

    def propose_step(self) -> Proposal:
        """Forward, backward, propose and evaluate the next step's candidates (nothing
        is applied or committed yet)."""
        started = time.perf_counter()
        propagated, train_fb, g = None, None, None
        if getattr(self.opt, "needs_trace", True):
            propagated, train_fb, g = forward(self.task, seed=self.seed, step=self.step, minibatch=self.minibatch,
                                              timeout=getattr(self.executor, "timeout", None))
        k = self.k
        left = self.budget.remaining("max_evaluations")
        if left is not None:
            k = max(1, min(k, int(left)))
        try:
            updates = self.opt.propose(propagated, k=k)
        except BudgetExceeded as e:  # the step ends as a failed proposal that keeps the calls it made
            if not e.calls:
                raise
            updates = [Update({}, reasoning=str(e), llm_calls=e.calls, failure=ProposalFailure("llm", str(e)))]
        self._check_llm(updates)
        live = self.opt.values()
        todo = [u for u in updates if not u.no_change]
        jobs = [Job({**live, **u.values}, list(self.task.val), self.opt.reporter(u)) for u in todo]
        results = dict(zip((u.id for u in todo), self.evaluate(jobs) if jobs else []))
        for u, job in zip(todo, jobs):
            self.opt.observe(job.values, results[u.id].feedback, update=u)
        candidates = tuple(Candidate(u, self.encode(u.values), results.get(u.id)) for u in updates)
        evaluated = tuple(c for c in candidates if c.result is not None)
        return Proposal(candidates, best_of(evaluated, self.direction), train_fb, g, started)

    def _check_llm(self, updates: Sequence[Any]) -> None:
        """An LLM that cannot be reached is a systemic failure: after a few steps in a row
        where every proposal failed on the LLM call, the run stops (failed, resumable)."""
        if not updates or not all(u.failure is not None and u.failure.kind == "llm" for u in updates):
            self.llm_failures = 0
            return
        self.llm_failures += 1
        if self.llm_failures >= _MAX_LLM_FAILURES:
            raise FatalLLMError(f"the optimizer's LLM failed in {self.llm_failures} steps in a row; "
                                f"last error: {updates[0].failure.error[:500]}")

    def finish_step(self, proposal: Proposal, accept: bool | None = None) -> StepRecord:
        """Commit a proposed step. ``accept=None`` keeps the best candidate if it beats
        the incumbent; True / False force the decision on the best candidate."""
        self.step += 1
        best = None if proposal.best is None else proposal.evaluated[proposal.best]
        if self.front is not None:  # several objectives: every candidate that enters the front is kept
            entering = self.front.decide(self.step, proposal.candidates)
            best, accept = (entering, entering is not None) if accept is None else (best, accept)
        elif accept is None:
            accept = best is not None and _beats(best, self.incumbent_score, self.direction)
        accept = bool(accept and best is not None)
        if accept and best is not None:
            self.opt.apply(best.update)
            self.incumbent_score = best.score if self.front is None else self.front.best_score()
        return self.commit(self.step, proposal.candidates, accepted=accept, train_feedback=proposal.train_feedback,
                           graph=proposal.graph, seconds=time.perf_counter() - proposal.started)

    def one_step(self) -> StepRecord:
        return self.finish_step(self.propose_step())

    def restore(self, step: int, reason: str = "rolled back") -> StepRecord:
        """Commit a new step whose values are those of committed step ``step``."""
        row = self.store.step(self.run_id, step)
        update = self.opt.update(row["values"], reasoning=f"{reason} to step {step}")  # decodes the stored JSON
        self.opt.apply(update)
        self.incumbent_score = row["incumbent_score"] if self.front is None else self.front.best_score()
        self.step += 1
        return self.commit(self.step, (Candidate(update, self.encode(update.values)),), accepted=True)

    # -- the store -------------------------------------------------------------------------
    def commit(self, step: int, candidates: tuple[Candidate, ...], *, accepted: bool, train_feedback: Any = None,
               graph: str | None = None, seconds: float = 0.0) -> StepRecord:
        if step > 0:
            self.budget.charge(steps=1)
        evaluated = [c for c in candidates if c.result is not None]
        scores = [c.score for c in evaluated]
        best_score = None
        for s in scores:
            if s is not None and (best_score is None or better(s, best_score, self.direction)):
                best_score = s
        values = self.encode(self.opt.values())
        outcome = StepOutcome(step, values, self.incumbent_score, accepted, candidates, best_score,
                              self.opt.state_dict(), self.budget.spent, seconds, train_feedback, graph,
                              self.initial_score, None if self.front is None else self.front.state())
        self.store.commit(self.run_id, outcome)
        self.tokens += outcome.tokens
        self.cost = None if self.cost is None or outcome.cost_usd is None else self.cost + outcome.cost_usd
        self.tally.add(candidates)
        self.note_failures(step, evaluated)
        rec = StepRecord(step, self.incumbent_score, scores, accepted, values, outcome.tokens, outcome.cost_usd,
                         seconds, [c.status for c in evaluated])
        if outcome.front is not None:
            rec.front_size, rec.hypervolume = len(outcome.front.members), outcome.front.hypervolume
        self.history.append(rec)
        if self.on_step is not None:
            self.on_step(rec)
        return rec

    def note_failures(self, step: int, evaluated: Sequence[Candidate]) -> None:
        """Keep (store, and log with its traceback) the run's first failed evaluation, and
        note whether every candidate of the first evaluated step failed."""
        if self.first_error is None:
            self.first_error = first_error(step, (c.result for c in evaluated))
            if self.first_error is not None:
                log.warning("run %s: an evaluation failed (later failures are only counted): %s\n%s", self.run_id,
                            describe_error(self.first_error), self.first_error["traceback"],
                            extra={"first_error": self.first_error})
                config = self.store.get_run(self.run_id).get("config") or {}
                self.store.update_run(self.run_id, config={**config, "first_error": self.first_error})
        if evaluated and not self.measured:
            self.measured = True
            self.start_failed = all(c.result is not None and not c.result.outcome.ok
                                    and c.result.outcome is not Outcome.PRUNED for c in evaluated)

    def check_start(self) -> None:
        """Raise :class:`RunFailed` when every candidate of the first evaluated step failed."""
        if self.start_failed:
            self.start_failed = False  # said once: a resumed run goes on
            raise RunFailed(self.run_id, self.first_error)

    def loop(self) -> str:
        self.budget.start()
        try:
            if self.step == 0 and not self.history and self.store.last_step(self.run_id) is None:
                self.baseline()
                self.check_start()
            while True:
                reason = self.stop_reason()
                if reason:
                    return reason
                self.one_step()
                self.check_start()
        except BudgetExceeded as e:
            return f"budget {e.limit or 'limit'} reached"

    def close(self) -> None:
        if self.owns_executor:
            self.executor.close()

    def result(self, reason: str) -> RunResult:
        status = "interrupted" if reason == "interrupted" else "finished"
        self.store.update_run(self.run_id, status=status, stop_reason=reason, spent=self.budget.spent)
        return RunResult(self.run_id, self.encode(self.opt.values()), self.incumbent_score,
                         self.initial_score, self.history, reason, self.budget.spent, self.direction,
                         self.tokens, self.cost, self.store.safe_url, dict(self.tally.outcomes),
                         dict(self.tally.failures), self.first_error,
                         None if self.front is None else self.store.front(self.run_id))


def _beats(candidate: Candidate, incumbent: float | None, direction: Direction) -> bool:
    """Whether a candidate replaces the incumbent: a better score, or, while no score
    exists at all (feedback that is only text), any candidate that did not fail, as
    Trace applies each step's update."""
    s = candidate.score
    if s is None:
        result = candidate.result
        return incumbent is None and result is not None and result.outcome.ok and not result.feedback.failed
    return better(s, incumbent, direction)
