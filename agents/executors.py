"""Executors run evaluations (values -> Feedback): ``thread``, ``process`` and ``ray``.

One interface: :meth:`Executor.evaluate` takes a list of :class:`Job` and returns
one :class:`EvalResult` each, in order. An evaluation that raises or times out is
a failed Feedback with the error text; it never kills the run. Traced graphs stay
in the loop's process: executors only see values.
"""

from __future__ import annotations

import abc
import concurrent.futures as cf
import logging
import os
import pickle
import signal
import time
from collections.abc import Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from agents.evaluate import EvalResult, evaluate_values
from trace_core import Feedback
from trace_core.errors import BudgetExceeded, ConfigError, TaskError
from trace_core.outcome import Outcome
from trace_core.registry import Registry

__all__ = ["EXECUTORS", "Job", "Executor", "SerialExecutor", "ThreadExecutor", "ProcessExecutor", "RayExecutor", "get_executor"]

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One candidate to evaluate: its values on these examples."""

    values: Mapping[str, Any]
    examples: Sequence[Any]
    reporter: Any = None


def _failed(job: Job, reason: str, outcome: Outcome = Outcome.FAILED) -> EvalResult:
    return EvalResult(Feedback.failure(reason), [], outcome)


class Executor(abc.ABC):
    """Runs evaluations of one task."""

    name = "executor"

    def __init__(self, task: Any, *, workers: int | None = None, timeout: float | None = None):
        self.task, self.timeout = task, timeout
        self.workers = workers or max(1, min(8, os.cpu_count() or 1))

    @abc.abstractmethod
    def evaluate(self, jobs: Sequence[Job]) -> list[EvalResult]:
        """Evaluate every job; never raises for a failing evaluation."""

    def close(self) -> None:
        """Release workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _guarded(task: Any, job: Job) -> EvalResult:
    try:
        return evaluate_values(task, job.values, job.examples, job.reporter)
    except TaskError as e:  # systemic: the loop stops the run with it
        return _failed(job, f"{type(e).__name__}: {e}", Outcome.SYSTEMIC)
    except BudgetExceeded as e:  # a workflow's LLM reached the shared budget: the loop stops cleanly
        return EvalResult(Feedback.failure(str(e), limit=e.limit), [], Outcome.BUDGET)
    except Exception as e:  # noqa: BLE001 - a crashed evaluation is feedback
        return _failed(job, f"evaluation crashed: {type(e).__name__}: {e}")


class SerialExecutor(Executor):
    """Evaluates one job after another in this thread (no timeout)."""

    name = "serial"

    def evaluate(self, jobs: Sequence[Job]) -> list[EvalResult]:
        return [_guarded(self.task, job) for job in jobs]


class ThreadExecutor(Executor):
    """A thread pool; each evaluation sees its own values through contextvars. A thread
    that timed out cannot be stopped: it runs on, and new evaluations get fresh threads."""

    name = "thread"

    def __init__(self, task: Any, **kw: Any):
        super().__init__(task, **kw)
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ThreadPoolExecutor:
        return cf.ThreadPoolExecutor(self.workers, thread_name_prefix="tracetune-eval")

    def _submit(self, job: Job) -> cf.Future:
        return self._pool.submit(_guarded, self.task, job)

    def _unstick(self) -> None:
        """Every worker is held by an evaluation that timed out: continue on a new pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def evaluate(self, jobs: Sequence[Job]) -> list[EvalResult]:
        results, stuck = _windowed(self, jobs)
        if stuck:
            self._unstick()
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _windowed(ex: Any, jobs: Sequence[Job]) -> tuple[list[EvalResult], int]:
    """Run ``jobs`` on ``ex`` (``_submit``, ``_unstick``, ``workers``, ``timeout``) with at most
    one job per free worker, so each evaluation's timeout counts from its own start, not
    from the start of the batch. Returns the results and how many workers are still
    held by evaluations that timed out."""
    timeout = ex.timeout
    results: list[EvalResult | None] = [None] * len(jobs)
    running: dict[cf.Future, tuple[int, float]] = {}
    stuck, todo = 0, list(range(len(jobs)))
    while todo or running:
        if todo and stuck >= ex.workers:
            ex._unstick()
            stuck = 0
        while todo and len(running) + stuck < ex.workers:
            i = todo.pop(0)
            running[ex._submit(jobs[i])] = (i, time.monotonic())
        wait = None if timeout is None else max(0.0, min(t for _, t in running.values()) + timeout - time.monotonic())
        done, _ = cf.wait(list(running), timeout=wait, return_when=cf.FIRST_COMPLETED)
        for fut in done:
            i, _ = running.pop(fut)
            try:
                results[i] = fut.result()
            except Exception as e:  # noqa: BLE001 - e.g. a broken process pool
                results[i] = _failed(jobs[i], f"evaluation crashed: {type(e).__name__}: {e}")
        if timeout is None:
            continue
        now = time.monotonic()
        for fut in [f for f, (_, t) in running.items() if now - t >= timeout and not f.done()]:
            i, _ = running.pop(fut)
            if not fut.cancel():
                stuck += 1
            results[i] = _failed(jobs[i], f"evaluation timed out after {timeout} s", Outcome.TIMEOUT)
    return [r for r in results if r is not None], stuck


# -- process pool ---------------------------------------------------------------------------
_WORKER_TASK: Any = None
_WORKER_ERROR: str | None = None
_START_TIMEOUT = 300.0


def _init_worker(payload: bytes) -> None:
    global _WORKER_TASK, _WORKER_ERROR
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torch reads it when first imported
    # Ctrl-C and SIGTERM reach the whole process group; the loop's process decides (it stops
    # after the current step), so workers finish their evaluations instead of dying mid-step.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    try:
        _WORKER_TASK = _rebuild(pickle.loads(payload))
    except Exception as e:  # noqa: BLE001 - reported by _ping to the loop's process
        _WORKER_ERROR = f"{type(e).__name__}: {e}"


def _ping() -> str | None:
    return _WORKER_ERROR


def _rebuild(ref: Any) -> Any:
    if isinstance(ref, dict) and "registered" in ref:
        from tasks.registry import build_task, is_registered, register

        if ref.get("target") and not is_registered(ref["registered"]):  # registered at run time in the parent
            register(ref["registered"], ref["target"])
        return build_task(ref["registered"], **ref.get("options", {}))
    return ref


def _process_job(values: Mapping[str, Any], examples: Sequence[Any]) -> EvalResult:
    if _WORKER_ERROR is not None:
        return _failed(Job(values, examples), f"the worker could not rebuild the task: {_WORKER_ERROR}",
                       Outcome.SYSTEMIC)
    return _guarded(_WORKER_TASK, Job(values, examples))


def task_ref(task: Any) -> Any:
    """What a worker process needs to rebuild ``task``: its registered spec, or the
    task itself when it pickles."""
    spec = getattr(task, "spec", None)
    if callable(spec):
        s = spec()
        from tasks.registry import is_registered, task_target

        if is_registered(s.get("name", "")):
            return {"registered": s["name"], "options": s.get("options", {}), "target": task_target(s["name"])}
    return task


class ProcessExecutor(Executor):
    """A real process pool. The task travels as its registered spec (rebuilt once per
    worker) or pickled; a task that neither is registered nor pickles is refused
    with a message that says so. Pruning reporters do not cross processes."""

    name = "process"

    def __init__(self, task: Any, **kw: Any):
        super().__init__(task, **kw)
        ref = task_ref(task)
        try:
            self._payload = pickle.dumps(ref)
        except Exception as e:  # noqa: BLE001
            raise ConfigError(
                f"the process executor needs a picklable task, and {type(task).__name__} is not ({e}); "
                "register the task (tasks.registry.register) or use executor='thread'"
            ) from None
        self._pool = self._new_pool()
        self._check_workers()

    def _check_workers(self) -> None:
        """Start one worker now, so a pool that cannot work fails here with the reason."""
        try:
            error = self._pool.submit(_ping).result(timeout=_START_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - BrokenProcessPool, RuntimeError, timeout
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise ConfigError(
                f"the process executor's workers could not start ({type(e).__name__}: {e}). Worker processes "
                "import the main script: when optimize() runs from a script, call it under "
                "`if __name__ == \"__main__\":`; or use executor='thread'"
            ) from None
        if error is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise ConfigError(f"the process executor's workers could not rebuild the task: {error}")

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        import multiprocessing

        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        return cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                      initargs=(self._payload,))

    def evaluate(self, jobs: Sequence[Job]) -> list[EvalResult]:
        for job in jobs:
            try:
                pickle.dumps((dict(job.values), list(job.examples)))
            except Exception as e:  # noqa: BLE001
                raise ConfigError(f"values or examples do not pickle ({e}); use executor='thread'") from None
        results, stuck = _windowed(self, jobs)
        if stuck or any("BrokenProcessPool" in r.feedback.text for r in results):
            self._restart()  # stop evaluations that ran past their time; replace dead workers
        return results

    def _submit(self, job: Job) -> cf.Future:
        try:
            return self._pool.submit(_process_job, dict(job.values), list(job.examples))
        except BrokenProcessPool:  # a worker died (killed, out of memory) since the last evaluation
            log.warning("the process pool is broken; starting a new one")
            self._restart()
            return self._pool.submit(_process_job, dict(job.values), list(job.examples))

    def _unstick(self) -> None:
        """Every worker is held by an evaluation that timed out (no other one runs): kill them."""
        self._restart()

    def _restart(self) -> None:
        for proc in list(getattr(self._pool, "_processes", {}).values()):
            proc.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor(Executor):
    """Evaluations as Ray tasks (``pip install tracetune[ray]``)."""

    name = "ray"

    def __init__(self, task: Any, *, address: str | None = None, **kw: Any):
        super().__init__(task, **kw)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            import ray
        except ImportError:
            raise ConfigError("the ray executor needs Ray: pip install 'tracetune[ray]'") from None
        self._ray = ray
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, num_cpus=None if address else self.workers,
                     log_to_driver=False, ignore_reinit_error=True)
        ref = task_ref(self.task)
        self._task_ref = ray.put(ref)
        self._remote = ray.remote(_ray_job)

    def evaluate(self, jobs: Sequence[Job]) -> list[EvalResult]:
        refs = [self._remote.remote(self._task_ref, dict(j.values), list(j.examples)) for j in jobs]
        out = []
        for ref, job in zip(refs, jobs):
            try:
                out.append(self._ray.get(ref, timeout=self.timeout))
            except Exception as e:  # noqa: BLE001 - GetTimeoutError, worker crash
                self._ray.cancel(ref, force=True)
                outcome = Outcome.TIMEOUT if isinstance(e, TimeoutError) else Outcome.FAILED  # ray's GetTimeoutError is one
                out.append(_failed(job, f"evaluation {outcome.value}: {type(e).__name__}: {e}", outcome))
        return out


def _ray_job(ref: Any, values: Mapping[str, Any], examples: Sequence[Any]) -> EvalResult:
    return _guarded(_rebuild(ref), Job(values, examples))


#: the executors by name; a package adds its own with ``[project.entry-points."tracetune.executors"]``
#: (an Executor subclass, built as ``cls(task, workers=..., timeout=...)``)
EXECUTORS = Registry("executor", "tracetune.executors", {
    "serial": "agents.executors:SerialExecutor",
    "thread": "agents.executors:ThreadExecutor",
    "process": "agents.executors:ProcessExecutor",
    "ray": "agents.executors:RayExecutor",
})


def get_executor(kind: str | Executor, task: Any, **kw: Any) -> Executor:
    """An executor by name (``serial``, ``thread``, ``process``, ``ray``, or one a package
    registered) or as given."""
    if isinstance(kind, Executor):
        return kind
    return EXECUTORS.build(kind, task, **kw)
