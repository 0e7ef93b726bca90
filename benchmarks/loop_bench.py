"""Loop benchmark: the cost of a step of the loop plus the run store (SQLite file and
in memory) near step 100 and near the last step, beside plain Optuna (in memory and
with RDB storage) on the same objective in the same run; with ``--executors``, also the
speed-up of 8 CPU-bound candidates with the process executor vs threads vs serially.

Run: python benchmarks/loop_bench.py [--steps 10000] [--executors]
"""

from __future__ import annotations

import argparse
import math
import os
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
from tasks.base import BaseTask  # noqa: E402
from tasks.examples.numeric import NumericTask  # noqa: E402
from trace_core import Budget, Feedback, Parameter, bundle, no_trace, using  # noqa: E402
from trace_core.spaces import Float  # noqa: E402


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


def _around(stamps: list[float], step: int, width: int = 100) -> float:
    """Median ms of the ``width`` steps that end nearest ``step`` (stamps[i]: when step i ended)."""
    hi = min(len(stamps) - 1, step + width // 2)
    lo = max(1, hi - width)
    return statistics.median(stamps[i] - stamps[i - 1] for i in range(lo, hi + 1)) * 1e3


def _score(task: NumericTask, x: float, y: float) -> float:
    """The objective both sides evaluate: the task's run and evaluate, untraced, under these values."""
    with using({"x": x, "y": y}), no_trace():
        return task.evaluate(None, task.run(None)).score


def loop_run(store: str, steps: int) -> tuple[list[float], float]:
    """A random-search run through optimize(): the time each step ended, and the total."""
    stamps: list[float] = []
    task = NumericTask()
    t0 = time.perf_counter()
    stamps.append(t0)
    optimize(task, optimizer="search:random", k=1, executor="serial", store=store, seed=0, minibatch=None,
             budget=Budget(max_steps=steps), evaluate_start=False, on_step=lambda rec: stamps.append(time.perf_counter()))
    return stamps, time.perf_counter() - t0


def optuna_run(storage: str | None, steps: int) -> tuple[list[float], float]:
    """The same search in plain Optuna: RandomSampler, same seed, same objective."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    task = NumericTask()
    stamps: list[float] = []
    t0 = time.perf_counter()
    stamps.append(t0)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0), storage=storage)
    study.optimize(lambda t: _score(task, t.suggest_float("x", -10, 10), t.suggest_float("y", -10, 10)),
                   n_trials=steps, callbacks=[lambda s, t: stamps.append(time.perf_counter())])
    return stamps, time.perf_counter() - t0


def step_costs(steps: int, rdb_steps: int) -> list[tuple[str, int, float, float, float]]:
    """(what, steps run, ms per step near step 100, near the last step, total seconds), all in this run."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("loop + store, SQLite file", lambda: loop_run(f"{tmp}/runs.db", steps)),
                ("loop + store, sqlite://", lambda: loop_run("sqlite://", steps)),
                ("Optuna, in memory", lambda: optuna_run(None, steps)),
                ("Optuna, RDB SQLite file", lambda: optuna_run(f"sqlite:///{tmp}/optuna.db", rdb_steps))]
        for what, go in runs:
            stamps, total = go()
            n = len(stamps) - 1
            rows.append((what, n, _around(stamps, 100), _around(stamps, n), total))
            print(f"  measured {what}: {total:.1f} s", file=sys.stderr, flush=True)
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10_000, help="steps of each run (default 10,000)")
    parser.add_argument("--rdb-steps", type=int, help="trials of the Optuna RDB run (default: --steps; it is the "
                        "slow one)")
    parser.add_argument("--executors", action="store_true", help="also time serial vs thread vs process executors")
    args = parser.parse_args()
    print(f"loop benchmark — {os.cpu_count()} cores, python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print(f"cost per step of a {args.steps:,}-step random search on NumericTask (executor serial, k=1, "
          "evaluate_start=False),\nmedian of the 100 steps ending near each step; plain Optuna with the same "
          "sampler, seed and objective")
    rows = step_costs(args.steps, args.rdb_steps or args.steps)
    print(f"{'':<28}{'steps':>8}{'ms @100':>10}{'ms @last':>10}{'ratio':>8}{'total s':>10}")
    for what, n, early, late, total in rows:
        print(f"{what:<28}{n:>8,}{early:>10.3f}{late:>10.3f}{late / early:>7.2f}×{total:>10.1f}")
    file_loop, mem_loop, _, rdb = rows
    print(f"\ntargets: loop + store <= 3 ms (file) / <= 1 ms (memory) per step; the last step <= 1.5× step 100;"
          f"\n         the run faster than Optuna with RDB storage: {file_loop[4]:.1f} s (file) and "
          f"{mem_loop[4]:.1f} s (memory) for {file_loop[1]:,} steps vs {rdb[4]:.1f} s for {rdb[1]:,} trials")
    if args.executors:
        print("\n8 CPU-bound candidates (pure Python, ~0.1-0.2 s each), median of 3")
        print("(bare process pool: the same work without tracetune, what the free cores allow now)")
        print(f"{'executor':<20}{'seconds':>10}{'speed-up vs serial':>20}")
        for kind, secs, ratio in speedup():
            print(f"{kind:<20}{secs:>10.2f}{ratio:>19.2f}×")
    print(f"\nload average now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
