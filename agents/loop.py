"""A run's lifecycle: :func:`optimize` starts one, :func:`resume` continues one,
:func:`open_run` rebuilds one at its last committed step (for the chat). All three build
it with :func:`build_run` from a :class:`RunConfig`, and drive it with :func:`drive`, which
stores how a run ended when an exception ended it. One step of a run (forward, propose,
evaluate, decide, commit) is :class:`agents._step.Run`."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agents._front import front_config, restored_front, search_options
from agents._step import Run
from agents.evaluate import EvalResult
from agents.executors import Executor, get_executor
from agents.factory import build_llm, build_optimizer, build_task_from_spec, optimizer_spec, task_spec
from agents.records import Proposal, RunResult, StepRecord, Tally
from agents.store import LeaseError, RunStore, open_store
from agents.workflow import as_task
from trace_core import Budget
from trace_core.errors import ConfigError, RunFailed
from trace_core.feedback import Direction
from trace_core.outcome import score

__all__ = ["optimize", "resume", "open_run", "build_run", "drive", "RunConfig", "Run", "Proposal", "RunResult",
           "StepRecord"]

log = logging.getLogger(__name__)


@dataclass
class RunConfig:
    """What a run is made of (the keywords of :func:`optimize` that are kept with the run).

    Example:
        >>> from tasks.examples.numeric import NumericTask
        >>> config = RunConfig(NumericTask(), optimizer="search:random", budget=Budget(max_steps=2))
        >>> config.stored()["optimizer"], config.stored()["k"]
        ({'name': 'search', 'sampler': 'random'}, 1)
    """

    task: Any
    optimizer: Any = None
    llm: Any = None
    budget: Budget = field(default_factory=lambda: Budget(max_steps=10))
    k: int = 1
    executor: str | Executor = "thread"
    seed: int = 0
    minibatch: int | None = 8
    workers: int | None = None
    timeout: float | None = None
    target: float | None = None
    evaluate_start: bool = True
    initial_values: Mapping[str, Any] | None = None  # a warm start, applied once when the run is built

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"k must be at least 1, got {self.k}")

    def stored(self) -> dict[str, Any]:
        """The config kept with the run, from which :meth:`from_stored` rebuilds it."""
        task, ex = self.task, self.executor
        return {"task": task_spec(task), "task_name": getattr(task, "name", "task"),
                "optimizer": optimizer_spec(self.optimizer),
                "llm": self.llm if isinstance(self.llm, (str, dict)) else None,
                "budget": self.budget.model_dump(), "k": self.k, "executor": ex if isinstance(ex, str) else ex.name,
                "seed": self.seed, "minibatch": self.minibatch, "workers": self.workers, "timeout": self.timeout,
                "target": self.target, "evaluate_start": self.evaluate_start, **front_config(task)}

    @classmethod
    def from_stored(cls, run_id: str, stored: Mapping[str, Any], *, task: Any = None, optimizer: Any = None,
                    llm: Any = None, budget: Budget | None = None, executor: str | Executor | None = None) -> RunConfig:
        """The config of stored run ``run_id``; what is given replaces what was stored."""
        if task is None:
            if not stored.get("task"):
                raise ConfigError(f"run {run_id} was made from a workflow that is not a registered task; resume it "
                                  "from Python: agents.resume(run_id, task=agents.WorkflowTask(workflow, feedback, "
                                  "train=...))")
            task = build_task_from_spec(stored["task"])
        stored_optimizer = stored.get("optimizer") or {"name": "default"}
        return cls(task, optimizer=optimizer if optimizer is not None else stored_optimizer,
                   llm=llm if llm is not None else stored.get("llm"),
                   budget=budget if budget is not None else Budget(**stored.get("budget", {})),
                   k=stored.get("k", 1), executor=executor or stored.get("executor", "thread"),
                   seed=stored.get("seed", 0), minibatch=stored.get("minibatch"), workers=stored.get("workers"),
                   timeout=stored.get("timeout"), target=stored.get("target"),
                   evaluate_start=stored.get("evaluate_start", True))


def build_run(config: RunConfig, store: RunStore, run_id: str = "", *,
              on_step: Callable[[StepRecord], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> Run:
    """The :class:`Run` of ``config``: its LLM (wrapped with the run's budget), optimizer
    (by name or spec from the registry, or the instance given), warm start and executor.
    Nothing is written to the store; ``run_id`` is the stored run it continues, if any."""
    task = config.task
    llm = build_llm(config.llm, config.budget)
    opt = config.optimizer
    if opt is None or isinstance(opt, (str, Mapping)):
        opt = build_optimizer(optimizer_spec(opt), task.parameters(), llm=llm, direction=task.direction,
                              seed=config.seed, vocabulary=getattr(task, "vocabulary", None) or None,
                              objective=getattr(task, "description", None) or None,
                              templates=getattr(task, "templates", None) or None, objectives=search_options(task))
    opt.direction = task.direction
    if config.initial_values:
        opt.apply(opt.update(config.initial_values, reasoning="warm start"))
    front = restored_front(store, run_id, task) if run_id else None  # before the executor: other objectives are refused
    ex = get_executor(config.executor, task, workers=config.workers, timeout=config.timeout)
    run = Run(task, opt, store, run_id, budget=config.budget, k=config.k, executor=ex, seed=config.seed,
              minibatch=config.minibatch, on_step=on_step, should_stop=should_stop, target=config.target,
              evaluate_start=config.evaluate_start)
    run.owns_executor = not isinstance(config.executor, Executor)
    if run_id:
        run.front = front
    return run


def drive(run: Run, *, label: str = "") -> RunResult:
    """Run steps until a stop reason and return the stored result. A run an exception
    ends is stored as failed (interrupted on Ctrl-C) with ``label`` and what ended it,
    unless another process took it over (:class:`~agents.store.LeaseError`): then it is
    the new owner's to record."""
    run.store.update_run(run.run_id, status="running", stop_reason=None)
    try:
        return run.result(run.loop())
    except BaseException as e:
        if not isinstance(e, LeaseError):
            run.store.update_run(run.run_id, status="interrupted" if isinstance(e, KeyboardInterrupt) else "failed",
                                 stop_reason=label + _stopped_by(e), spent=run.budget.spent)
        raise


@contextmanager
def _leased(run: Run, *, take_over: bool = False) -> Iterator[Run]:
    """Hold the run's lease while the block runs; close its executor after."""
    try:
        run.store.take_lease(run.run_id, take_over=take_over)  # before any LLM call or evaluation
    except BaseException:
        run.close()
        raise
    try:
        yield run
    finally:
        run.close()
        run.store.release_lease(run.run_id)


def _stopped_by(error: BaseException) -> str:
    """The stored stop reason of a run an exception ended (a RunFailed's first error is
    stored with the run and shown on its own line)."""
    if isinstance(error, RunFailed):
        return f"{error.reason} (RunFailed)"
    return f"{type(error).__name__}: {error}"[:200]


def Optimizer_score(result: EvalResult) -> float | None:  # noqa: N802 - deprecated alias
    """Deprecated: use :func:`trace_core.score` on ``result.feedback``."""
    warnings.warn("agents.loop.Optimizer_score is deprecated; use trace_core.score(result.feedback)",
                  DeprecationWarning, stacklevel=2)
    return score(result.feedback)


def __getattr__(name: str) -> Any:
    if name == "Pending":
        warnings.warn("agents.loop.Pending is deprecated; use agents.records.Proposal", DeprecationWarning,
                      stacklevel=2)
        return Proposal
    raise AttributeError(f"module 'agents.loop' has no attribute {name!r}")


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
    evaluate_start: bool = True,
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
        evaluate_start: score the starting values first (step 0, charged to the budget).
            False: the first evaluation is the optimizer's first proposal, so Search
            makes the same trials as plain Optuna with the same sampler and seed.

    Example:
        >>> from tasks.examples.numeric import NumericTask
        >>> result = optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=5), store="sqlite://")
        >>> result.best_score <= result.initial_score
        True
    """
    task = as_task(task_or_workflow, feedback=feedback, train=train, val=val, direction=direction)
    budget = budget if budget is not None else Budget(max_steps=10)
    config = RunConfig(task, optimizer=optimizer, llm=llm, budget=budget, k=k, executor=executor, seed=seed,
                       minibatch=minibatch, workers=workers, timeout=timeout, target=target, evaluate_start=evaluate_start, initial_values=initial_values)
    store = open_store(store)
    run = build_run(config, store, on_step=on_step, should_stop=should_stop)  # refused before a run row exists
    run_name = name or getattr(task, "name", "run")
    try:
        run.run_id = store.create_run(name=run_name, task=getattr(task, "name", "task"),
                                      config={**config.stored(), **(extra_config or {})}, direction=task.direction,
                                      job_key=job_key or run_name, run_id=run_id)
    except BaseException:
        run.close()
        raise
    with _leased(run):  # a new run: nobody else holds it; others' `resume` now waits for us
        log.info("run %s: %s with %s, budget %s", run.run_id, run_name, type(run.opt).__name__,
                 config.budget.describe())
        return drive(run)


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
    config = RunConfig.from_stored(row["id"], row["config"], task=task, optimizer=optimizer, llm=llm, budget=budget,
                                   executor=executor)
    run = build_run(config, store, row["id"], on_step=on_step, should_stop=should_stop)
    try:
        _reload(run, row)
    except BaseException:
        run.close()
        raise
    return run


def _reload(run: Run, row: Mapping[str, Any]) -> None:
    """Bring a freshly built run to the last committed step of its stored ``row``."""
    store, opt = run.store, run.opt
    last = store.last_step(run.run_id)
    if last is None:
        return
    for name, value in opt.validate(last["values"]).items():  # decodes the stored JSON
        opt.by_name[name].write(value)
    states = store.optimizer_states(run.run_id) if opt.state_is_delta else [last.get("optimizer_state")]
    opt.load_state_dicts([s for s in states if s])
    run.budget.restore(last.get("spent") or {})
    run.step = last["step"]
    run.incumbent_score = last["incumbent_score"]
    run.initial_score = row.get("initial_score")
    tally = store.tally(run.run_id)
    run.tokens, run.cost = tally["totals"]["tokens"], tally["totals"]["cost_usd"]
    run.tally = Tally(tally["outcomes"], tally["failures"])
    run.measured = bool(tally["outcomes"])
    run.first_error = row["config"].get("first_error")


def resume(run_id: str, *, take_over: bool = False, **kwargs: Any) -> RunResult:
    """Continue a run from its last committed step (after a crash, a kill or Ctrl-C).

    Takes the keywords of :func:`open_run`. A step that was in flight is redone;
    nothing is written twice. A run another process is working on is refused
    (:class:`~agents.store.LeaseError`) unless ``take_over``; see :mod:`agents._lease`.
    """
    run = open_run(run_id, **kwargs)
    with _leased(run, take_over=take_over):
        log.info("resuming run %s after step %s", run.run_id, run.step)
        return drive(run)
