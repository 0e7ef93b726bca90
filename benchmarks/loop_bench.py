"""Loop benchmark: overhead of the loop and the run store per step beyond the
evaluations themselves, and the speed-up of 8 CPU-bound candidates evaluated with the
process executor vs threads vs serially.

Run: python benchmarks/loop_bench.py
"""

from __future__ import annotations

import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from agents import optimize  # noqa: E402
from agents.executors import Job, get_executor  # noqa: E402
from optimizers.base import Optimizer, Update  # noqa: E402
from tasks.base import BaseTask  # noqa: E402
from tasks.examples.numeric import NumericTask  # noqa: E402
from trace_core import Budget, Feedback, Parameter, bundle, no_trace  # noqa: E402
from trace_core.spaces import Float  # noqa: E402


class Uniform(Optimizer):
    """A proposal costs nothing, so what is measured is the loop and the store."""

    needs_trace = False

    def __init__(self, params: Any):
        super().__init__(params)
        self.rng = random.Random(0)

    def propose(self, propagated: Any = None, k: int = 1) -> list[Update]:
        return [Update({n: self.rng.uniform(p.space.lo, p.space.hi) for n, p in self.by_name.items()})
                for _ in range(k)]


@bundle
def burn(x: float, n: int) -> float:
    """CPU-bound: a pure-Python loop."""
    acc = 0.0
    for i in range(n):
        acc += math.sqrt(i + x)
    return acc


def _bare_burn(x: float, n: int) -> float:
    """The same work as :func:`burn`, as a plain function (the bare process-pool baseline)."""
    acc = 0.0
    for i in range(n):
        acc += math.sqrt(i + x)
    return acc


class CPUTask(BaseTask):
    name = "cpu"

    def __init__(self, n: int = 1_500_000):
        super().__init__(n=n)
        self.n = n
        self.x = Parameter(1.0, name="x", space=Float(0, 10))

    def parameters(self) -> list[Parameter]:
        return [self.x]

    def run(self, example: Any) -> Any:
        return burn(self.x, self.n)

    def evaluate(self, example: Any, output: Any) -> Feedback:
        return Feedback(score=float(getattr(output, "value", output)))


def overhead(steps: int = 200, repeats: int = 5) -> list[tuple[str, float, float]]:
    rows = []
    for kind, store in (("sqlite file", "file"), ("sqlite memory", "sqlite://")):
        per_step = []
        for _ in range(repeats):
            task = NumericTask()
            with tempfile.TemporaryDirectory() as tmp:
                target = f"{tmp}/runs.db" if store == "file" else store
                t0 = time.perf_counter()
                optimize(task, optimizer=Uniform(task.parameters()), budget=Budget(max_steps=steps),
                         executor="serial", store=target)
                loop = time.perf_counter() - t0
            # the same evaluations without the loop
            t0 = time.perf_counter()
            with no_trace():
                for _ in range(steps + 1):
                    task.evaluate(None, task.run(None))
            bare = time.perf_counter() - t0
            per_step.append((loop - bare) / (steps + 1) * 1e3)
        rows.append((kind, statistics.median(per_step), statistics.median(per_step) / 5.0))
    return rows


def speedup(repeats: int = 3) -> list[tuple[str, float, float]]:
    task = CPUTask()
    jobs = [Job({"x": float(i)}, [None]) for i in range(8)]
    times: dict[str, float] = {}
    for kind in ("serial", "thread", "process"):
        with get_executor(kind, task, workers=os.cpu_count() or 2) as ex:
            ex.evaluate(jobs[:2])  # warm up workers
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                results = ex.evaluate(jobs)
                samples.append(time.perf_counter() - t0)
                assert all(r.status == "done" for r in results), [r.feedback.text for r in results]
            times[kind] = statistics.median(samples)
    # what this machine allows right now: a bare process pool on the same work, no tracetune
    import concurrent.futures as cf
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    with cf.ProcessPoolExecutor(os.cpu_count() or 2, mp_context=ctx) as pool:
        list(pool.map(_bare_burn, [0.0] * 2, [task.n] * 2))
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            list(pool.map(_bare_burn, [float(i) for i in range(8)], [task.n] * 8))
            samples.append(time.perf_counter() - t0)
    times["bare process pool"] = statistics.median(samples)
    return [(k, v, times["serial"] / v) for k, v in times.items()]


def main() -> None:
    print(f"loop benchmark — {os.cpu_count()} cores, python {sys.version.split()[0]}\n")
    print("overhead of loop + store per step (beyond evaluations), median of 5 runs × 200 steps")
    print(f"{'store':<16}{'ms/step':>10}{'vs 5 ms target':>16}")
    for kind, ms, ratio in overhead():
        print(f"{kind:<16}{ms:>10.2f}{ratio:>15.2f}×")
    print("\n8 CPU-bound candidates (pure Python, ~0.1-0.2 s each), median of 3")
    print("(bare process pool: the same work without tracetune, what the free cores allow now)")
    print(f"{'executor':<20}{'seconds':>10}{'speed-up vs serial':>20}")
    for kind, secs, ratio in speedup():
        print(f"{kind:<20}{secs:>10.2f}{ratio:>19.2f}×")
    print(f"\nload average now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
