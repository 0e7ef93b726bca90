"""optimize(): forward -> feedback -> backward -> propose k -> evaluate -> observe ->
accept the best if it beats the incumbent, within a Budget; every step committed to
the run store so a killed run resumes (:func:`resume`)."""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import json
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.evaluate import EvalResult, aggregate, run_example
from agents.executors import Executor, Job, get_executor
from agents.factory import build_llm, build_optimizer, build_task_from_spec, optimizer_spec, task_spec
from agents.store import RunStore, open_store
from agents.workflow import as_task
from trace_core import Budget, Feedback, backward, better, catching, graph
from trace_core.errors import BudgetExceeded, ConfigError, TaskError
from trace_core.feedback import Direction

__all__ = ["optimize", "resume", "open_run", "Run", "Pending", "RunResult", "StepRecord"]

log = logging.getLogger(__name__)
_GRAPH_MAX_NODES = 400
_MAX_LLM_FAILURES = 3


@dataclass
class StepRecord:
    """What one step did."""

    step: int
    incumbent_score: float | None
    candidate_scores: list[float | None]
    accepted: bool
    values: dict[str, Any]
    tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    statuses: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    """The outcome of a run: best values and score, history, costs, why it stopped."""

    run_id: str
    best_values: dict[str, Any]
    best_score: float | None
    initial_score: float | None
    history: list[StepRecord]
    stop_reason: str
    spent: dict[str, float]
    direction: Direction
    tokens: int = 0
    cost_usd: float = 0.0
    store_url: str = ""

    @property
    def improved(self) -> bool:
        return better(self.best_score, self.initial_score, self.direction)


def _jsonable(values: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    return {n: params[n].space.to_json(v) if n in params else v for n, v in values.items()}


def _feedback_json(fb: Feedback, limit: int = 4000) -> dict[str, Any]:
    data = fb.model_dump(mode="json")
    data["text"] = data["text"][:limit]
    return data


@dataclass
class Pending:
    """A proposed step: its candidates and their evaluations, not yet committed."""

    updates: list[Any]
    todo: list[Any]
    results: list[EvalResult]
    best: int | None
    train_fb: Any
    graph: Any
    started: float

    @property
    def best_score(self) -> float | None:
        return None if self.best is None else Optimizer_score(self.results[self.best])


class Run:
    """The state of one run while it is optimized (see :func:`open_run`)."""

    def __init__(self, task: Any, optimizer: Any, store: RunStore, run_id: str, *, budget: Budget, k: int,
                 executor: Executor, seed: int, minibatch: int | None, on_step: Callable[[StepRecord], None] | None,
                 should_stop: Callable[[], bool] | None, target: float | None):
        self.task, self.opt, self.store, self.run_id = task, optimizer, store, run_id
        self.budget, self.k, self.executor, self.seed = budget, k, executor, seed
        self.minibatch, self.on_step, self.should_stop, self.target = minibatch, on_step, should_stop, target
        self.direction: Direction = task.direction
        self.params = optimizer.by_name
        self.history: list[StepRecord] = []
        self.step = 0
        self.incumbent_score: float | None = None
        self.initial_score: float | None = None
        self.tokens, self.cost = 0, 0.0
        self.llm_failures = 0  # steps in a row whose every proposal failed because the LLM call did

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
    def forward(self) -> tuple[Any, list[dict[str, Any]], Any]:
        train = list(self.task.train)
        rng = random.Random(f"{self.seed}:{self.step}")
        batch = train if not self.minibatch or len(train) <= self.minibatch else rng.sample(train, self.minibatch)

        def one(example: Any) -> tuple[Any, Feedback]:
            with catching():
                try:
                    out = self.task.run(example)
                except (TaskError, BudgetExceeded):
                    raise
                except (Exception, SystemExit) as e:  # noqa: BLE001 - a crash outside any op
                    return None, Feedback.failure(f"the workflow raised {type(e).__name__}: {e}")
            return out, run_eval(self.task, example, out)

        threads = min(8, len(batch)) or 1
        timeout = getattr(self.executor, "timeout", None)
        pool = cf.ThreadPoolExecutor(threads, thread_name_prefix="tracetune-forward")
        try:
            futures = [pool.submit(contextvars.copy_context().run, one, ex) for ex in batch]
            limit = None if timeout is None else timeout * math.ceil(len(batch) / threads)
            cf.wait(futures, timeout=limit)  # the executor's timeout holds for the traced runs too
            pairs = [f.result() if f.done() else (None, Feedback.failure(f"the workflow timed out after {timeout} s"))
                     for f in futures]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        nodes = [(o, f) for o, f in pairs if o is not None and hasattr(o, "parents")]
        propagated = backward(nodes) if nodes else None
        fb_json = [_feedback_json(f, 1000) for _, f in pairs]
        g = None
        if nodes:
            try:
                nx_graph = graph.to_networkx(nodes[0][0])
                if nx_graph.number_of_nodes() <= _GRAPH_MAX_NODES:
                    g = json.dumps(graph.node_link(nx_graph), sort_keys=True)
            except Exception:  # noqa: BLE001 - the graph is for reports only
                log.debug("graph export failed", exc_info=True)
        return propagated, fb_json, g

    def evaluate(self, jobs: Sequence[Job]) -> list[EvalResult]:
        self.budget.charge(evaluations=len(jobs))
        results = self.executor.evaluate(jobs)
        for r in results:
            if r.status == "systemic":
                raise TaskError(f"the task failed as a whole, not on one example: {r.feedback.text}")
            if r.status == "budget":
                raise BudgetExceeded(r.feedback.text, limit=r.feedback.details.get("limit"))
        return results

    def baseline(self) -> None:
        """Step 0: score the starting values."""
        values = self.opt.values()
        result = self.evaluate([Job(values, list(self.task.val))])[0]
        self.opt.observe(values, result.feedback)
        self.incumbent_score = self.initial_score = Optimizer_score(result)
        self.commit(0, values, [], [result], accepted=True, train_fb=None, graph_json=None)

    def propose_step(self) -> Pending:
        """Forward, backward, propose and evaluate the next step's candidates (nothing
        is applied or committed yet)."""
        started = time.perf_counter()
        propagated, train_fb, g = (None, None, None)
        if getattr(self.opt, "needs_trace", True):
            propagated, train_fb, g = self.forward()
        k = self.k
        left = self.budget.remaining("max_evaluations")
        if left is not None:
            k = max(1, min(k, int(left)))
        updates = self.opt.propose(propagated, k=k)
        self._check_llm(updates)
        live = self.opt.values()
        todo = [u for u in updates if not u.no_change]
        jobs = [Job({**live, **u.values}, list(self.task.val), self.opt.reporter(u)) for u in todo]
        results = self.evaluate(jobs) if jobs else []
        for u, job, r in zip(todo, jobs, results):
            self.opt.observe(job.values, r.feedback, update=u)
        best_i = None
        for i, r in enumerate(results):
            s = Optimizer_score(r)
            if s is not None and (best_i is None or better(s, Optimizer_score(results[best_i]), self.direction)):
                best_i = i
        if best_i is None:  # feedback without scores (text only): the first candidate that did not fail
            best_i = next((i for i, r in enumerate(results) if r.status == "done" and not r.feedback.failed), None)
        return Pending(updates, todo, results, best_i, train_fb, g, started)

    def _check_llm(self, updates: Sequence[Any]) -> None:
        """An LLM that cannot be reached is a systemic failure: after a few steps in a row
        where every proposal failed on the LLM call, the run stops (failed, resumable)."""
        errors = [str(u.meta.get("error") or "") for u in updates if u.no_change]
        if not updates or len(errors) < len(updates) or not all("LLM call failed" in e for e in errors):
            self.llm_failures = 0
            return
        self.llm_failures += 1
        if self.llm_failures >= _MAX_LLM_FAILURES:
            from trace_core.llm.errors import FatalLLMError

            raise FatalLLMError(f"the optimizer's LLM failed in {self.llm_failures} steps in a row; "
                                f"last error: {errors[0][:500]}")

    def finish_step(self, pending: Pending, accept: bool | None = None) -> StepRecord:
        """Commit a proposed step. ``accept=None`` keeps the best candidate if it beats
        the incumbent; True / False force the decision on the best candidate."""
        self.step += 1
        best = pending.best
        if accept is None:
            accept = best is not None and _beats(pending.results[best], self.incumbent_score, self.direction)
        accept = bool(accept and best is not None)
        if accept:
            self.opt.apply(pending.todo[best])
            self.incumbent_score = Optimizer_score(pending.results[best])
        self.tokens += sum(u.tokens for u in pending.updates)
        self.cost += sum(u.cost_usd for u in pending.updates)
        return self.commit(self.step, self.opt.values(), pending.updates, pending.results, accepted=accept,
                           train_fb=pending.train_fb, graph_json=pending.graph, todo=pending.todo,
                           seconds=time.perf_counter() - pending.started)

    def one_step(self) -> StepRecord:
        return self.finish_step(self.propose_step())

    def restore(self, step: int, reason: str = "rolled back") -> StepRecord:
        """Commit a new step whose values are those of committed step ``step``."""
        snap = self.store.snapshot(self.run_id, step)
        rows = [s for s in self.store.steps(self.run_id) if s["step"] == step]
        update = _update(self.opt.validate(snap), f"{reason} to step {step}")
        self.opt.apply(update)
        self.incumbent_score = rows[0]["incumbent_score"] if rows else self.incumbent_score
        self.step += 1
        return self.commit(self.step, self.opt.values(), [update], [], accepted=True, train_fb=None, graph_json=None)

    # -- the store -------------------------------------------------------------------------
    def commit(self, step: int, values: dict[str, Any], updates: Sequence[Any], results: Sequence[EvalResult], *,
               accepted: bool, train_fb: Any, graph_json: Any, todo: Sequence[Any] = (),
               seconds: float = 0.0) -> StepRecord:
        if step > 0:
            self.budget.charge(steps=1)
        cand_rows, eval_rows, llm_rows = [], [], []
        evaluated = {id(u): r for u, r in zip(todo, results)}
        if step == 0:
            cand_rows.append({"idx": 0, "values": _jsonable(values, self.params), "reasoning": "starting values",
                              "score": Optimizer_score(results[0]), "status": results[0].status,
                              "feedback": _feedback_json(results[0].feedback)})
            pairs = [(0, results[0])]
        else:
            pairs = []
            for i, u in enumerate(updates):
                r = evaluated.get(id(u))
                cand_rows.append({
                    "idx": i, "update_id": u.id, "values": _jsonable(u.values, self.params),
                    "reasoning": u.reasoning[:8000], "score": None if r is None else Optimizer_score(r),
                    "status": "no change" if r is None else r.status,
                    "feedback": None if r is None else _feedback_json(r.feedback)})
                if r is not None:
                    pairs.append((i, r))
                for c in u.llm_calls:
                    llm_rows.append({"model": c.model, "prompt_tokens": c.prompt_tokens,
                                     "completion_tokens": c.completion_tokens, "cost_usd": c.cost_usd,
                                     "latency_s": c.latency_s, "cached": c.cached, "prompt": c.prompt[:50000],
                                     "reply": c.reply[:20000]})
        for i, r in pairs:
            for j, fb in enumerate(r.per_example):
                eval_rows.append({"candidate": i, "example": j, "score": fb.score, "feedback": _feedback_json(fb, 1000)})
        scores = [Optimizer_score(r) for _, r in pairs]
        best_cand = None
        for s in scores:
            if s is not None and (best_cand is None or better(s, best_cand, self.direction)):
                best_cand = s
        jvalues = _jsonable(values, self.params)
        spent = self.budget.spent
        step_tokens = sum(u.tokens for u in updates)
        step_cost = sum(u.cost_usd for u in updates)
        run_fields = {"best_score": self.incumbent_score, "best_values": jvalues, "spent": spent}
        if step == 0:
            run_fields["initial_score"] = self.initial_score
        self.store.commit_step(
            self.run_id, step, incumbent_score=self.incumbent_score, best_candidate_score=best_cand,
            accepted=accepted, values=jvalues, candidates_rows=cand_rows, evaluation_rows=eval_rows,
            llm_rows=llm_rows, optimizer_state=self.opt.state_dict(), train_feedback=train_fb, graph=graph_json,
            spent=spent, tokens=step_tokens, cost_usd=step_cost, seconds=seconds, run_fields=run_fields)
        rec = StepRecord(step, self.incumbent_score, scores, accepted, jvalues, step_tokens, step_cost, seconds,
                         [r.status for _, r in pairs])
        self.history.append(rec)
        if self.on_step is not None:
            self.on_step(rec)
        return rec

    def loop(self) -> str:
        self.budget.start()
        try:
            if self.step == 0 and not self.history and self.store.last_step(self.run_id) is None:
                self.baseline()
            while True:
                reason = self.stop_reason()
                if reason:
                    return reason
                self.one_step()
        except BudgetExceeded as e:
            return f"budget {e.limit or 'limit'} reached"

    owns_executor = True

    def close(self) -> None:
        if self.owns_executor:
            self.executor.close()

    def result(self, reason: str) -> RunResult:
        status = "interrupted" if reason == "interrupted" else "finished"
        self.store.update_run(self.run_id, status=status, stop_reason=reason, spent=self.budget.spent)
        return RunResult(self.run_id, _jsonable(self.opt.values(), self.params), self.incumbent_score,
                         self.initial_score, self.history, reason, self.budget.spent, self.direction,
                         self.tokens, self.cost, self.store.safe_url)


def _beats(result: EvalResult, incumbent: float | None, direction: Direction) -> bool:
    """Whether a candidate replaces the incumbent: a better score, or, while no score
    exists at all (feedback that is only text), any candidate that did not fail, as
    Trace applies each step's update."""
    score = Optimizer_score(result)
    if score is None:
        return incumbent is None and result.status == "done" and not result.feedback.failed
    return better(score, incumbent, direction)


def Optimizer_score(result: EvalResult) -> float | None:  # noqa: N802 - mirrors Optimizer.score
    fb = result.feedback
    return None if fb.failed else fb.score


def run_eval(task: Any, example: Any, output: Any) -> Feedback:
    try:
        return task.evaluate(example, output)
    except (TaskError, BudgetExceeded):
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001
        return Feedback.failure(f"evaluation raised {type(e).__name__}: {e}")


def optimize(
    task_or_workflow: Any,
    *,
    optimizer: Any = None,
    llm: Any = None,
    train: Sequence[Any] | None = None,
    val: Sequence[Any] | None = None,
    feedback: Callable[[Any, Any], Any] | None = None,
    direction: Direction = "maximize",
    budget: Budget | None = None,
    k: int = 1,
    executor: str | Executor = "thread",
    store: RunStore | str | None = None,
    seed: int = 0,
    minibatch: int | None = 8,
    workers: int | None = None,
    timeout: float | None = None,
    target: float | None = None,
    name: str | None = None,
    job_key: str | None = None,
    extra_config: Mapping[str, Any] | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    initial_values: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Optimize a task (or a workflow plus ``feedback``) and return the best values.

    Args:
        task_or_workflow: a Task, or a Module / bundled function with ``feedback``.
        optimizer: an Optimizer, a name (``"search"``, ``"search:cmaes"``, ``"optoprime"``,
            ``"opro"``, ``"evolution"``, ``"default"``) or a dict spec.
        llm: an LLM, a model string, or None for the environment (``TRACETUNE_LLM``).
        train: examples the workflow is traced on (for a Task: replaces its ``train``).
        val: examples candidates are scored on (default ``train``; for a Task: replaces its ``val``).
        feedback: ``feedback(example, output)`` returning a Feedback, a number or text
            (text only: each proposal that does not fail is kept, as Trace does).
        direction: ``"maximize"`` or ``"minimize"`` for a workflow (a Task says its own).
        budget: limits; with none given the run stops after 10 steps.
        k: candidates proposed and evaluated per step.
        executor: ``"thread"``, ``"process"``, ``"ray"``, ``"serial"`` or an Executor.
        store: a RunStore, a SQLAlchemy URL or a path (default ``.tracetune/runs.db``).
        minibatch: training examples traced per step (None: all).
        workers: parallel evaluations (default: the cores, at most 8).
        timeout: seconds per evaluation (and per traced run); past it the evaluation is
            a failed Feedback.
        target: stop once the incumbent reaches this score.
        initial_values: start from these values (warm start), validated by each space.
        run_id: the new run's id (default: a fresh random one).

    Example:
        >>> from tasks.examples.numeric import NumericTask
        >>> result = optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=5), store="sqlite://")
        >>> result.best_score <= result.initial_score
        True
    """
    task = as_task(task_or_workflow, feedback=feedback, train=train, val=val, direction=direction)
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    budget = budget if budget is not None else Budget(max_steps=10)
    store = open_store(store)
    llm_obj = build_llm(llm, budget)
    params = task.parameters()
    if isinstance(optimizer, (str, Mapping)) or optimizer is None:
        opt = build_optimizer(optimizer_spec(optimizer), params, llm=llm_obj, direction=task.direction, seed=seed,
                              vocabulary=getattr(task, "vocabulary", None) or None,
                              objective=getattr(task, "description", None) or None,
                              templates=getattr(task, "templates", None) or None)
    else:
        opt = optimizer
        opt.direction = task.direction
    if initial_values:
        opt.apply(_update(initial_values, "warm start"))
    config = {
        "task": task_spec(task), "task_name": getattr(task, "name", "task"), "optimizer": optimizer_spec(optimizer),
        "llm": llm if isinstance(llm, (str, dict)) else None, "budget": budget.model_dump(), "k": k,
        "executor": executor if isinstance(executor, str) else executor.name, "seed": seed,
        "minibatch": minibatch, "workers": workers, "timeout": timeout, "target": target, **(extra_config or {}),
    }
    run_name = name or getattr(task, "name", "run")
    ex = get_executor(executor, task, workers=workers, timeout=timeout)  # refused before a run row exists
    try:
        run_id = store.create_run(name=run_name, task=getattr(task, "name", "task"), config=config,
                                  direction=task.direction, job_key=job_key or run_name, run_id=run_id)
    except BaseException:
        if not isinstance(executor, Executor):
            ex.close()
        raise
    log.info("run %s: %s with %s, budget %s", run_id, run_name, type(opt).__name__, budget.describe())
    run = Run(task, opt, store, run_id, budget=budget, k=k, executor=ex, seed=seed, minibatch=minibatch,
               on_step=on_step, should_stop=should_stop, target=target)
    try:
        reason = run.loop()
    except BaseException as e:
        store.update_run(run_id, status="failed" if not isinstance(e, KeyboardInterrupt) else "interrupted",
                         stop_reason=f"{type(e).__name__}: {e}"[:200], spent=budget.spent)
        raise
    finally:
        if not isinstance(executor, Executor):
            ex.close()
    return run.result(reason)


def _update(values: Mapping[str, Any], reasoning: str) -> Any:
    from optimizers import Update

    return Update(dict(values), reasoning=reasoning)


def open_run(
    run_id: str,
    *,
    store: RunStore | str | None = None,
    task: Any = None,
    optimizer: Any = None,
    llm: Any = None,
    budget: Budget | None = None,
    executor: str | Executor | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Run:
    """Rebuild a stored run at its last committed step, ready to continue.

    The task and optimizer are rebuilt from the stored config unless given; the live
    values and the optimizer state are those of the last committed step.
    """
    store = open_store(store)
    row = store.get_run(run_id)
    run_id, cfg = row["id"], row["config"]
    if task is None:
        if not cfg.get("task"):
            raise ConfigError(f"run {run_id} was made from a workflow that is not a registered task; resume it "
                              "from Python: agents.resume(run_id, task=agents.WorkflowTask(workflow, feedback, train=...))")
        task = build_task_from_spec(cfg["task"])
    budget = budget if budget is not None else Budget(**cfg.get("budget", {}))
    llm_obj = build_llm(llm if llm is not None else cfg.get("llm"), budget)
    params = task.parameters()
    opt = optimizer if optimizer is not None else build_optimizer(
        cfg.get("optimizer") or {"name": "default"}, params, llm=llm_obj, direction=task.direction,
        seed=cfg.get("seed", 0), vocabulary=getattr(task, "vocabulary", None) or None,
        objective=getattr(task, "description", None) or None, templates=getattr(task, "templates", None) or None)
    opt.direction = task.direction
    ex = get_executor(executor or cfg.get("executor", "thread"), task, workers=cfg.get("workers"),
                      timeout=cfg.get("timeout"))
    run = Run(task, opt, store, run_id, budget=budget, k=cfg.get("k", 1), executor=ex, seed=cfg.get("seed", 0),
              minibatch=cfg.get("minibatch"), on_step=on_step, should_stop=should_stop, target=cfg.get("target"))
    run.owns_executor = not isinstance(executor, Executor)
    last = store.last_step(run_id)
    if last is not None:
        clean = opt.validate(last["values"])
        for name, value in clean.items():
            opt.by_name[name]._value = value
        if last.get("optimizer_state"):
            opt.load_state_dict(last["optimizer_state"])
        budget.restore(last.get("spent") or {})
        run.step = last["step"]
        run.incumbent_score = last["incumbent_score"]
        run.initial_score = row.get("initial_score")
        for s in store.steps(run_id):
            run.tokens += s.get("tokens") or 0
            run.cost += s.get("cost_usd") or 0.0
    return run


def resume(run_id: str, **kwargs: Any) -> RunResult:
    """Continue a run from its last committed step (after a crash, a kill or Ctrl-C).

    Takes the keywords of :func:`open_run`. A step that was in flight is redone;
    nothing is written twice.
    """
    run = open_run(run_id, **kwargs)
    run.store.update_run(run.run_id, status="running", stop_reason=None)
    log.info("resuming run %s after step %s", run.run_id, run.step)
    try:
        reason = run.loop()
    except BaseException as e:
        run.store.update_run(run.run_id, status="interrupted" if isinstance(e, KeyboardInterrupt) else "failed",
                             stop_reason=f"{type(e).__name__}: {e}"[:200], spent=run.budget.spent)
        raise
    finally:
        run.close()
    return run.result(reason)
