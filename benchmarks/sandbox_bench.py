"""Overhead of one sandboxed call against a bare ``subprocess.run`` of the same interpreter.

Prints, per isolation level, cold (a fresh interpreter per call) and warm (a fresh child
forked from a zygote), the median wall time of a trivial call (``sum([1, 2, 3])``) and
of a trainable bundle's proposed code, beside the baseline measured in the same run:
``python -I -S -c "print(sum([1, 2, 3]))"``.

    python benchmarks/sandbox_bench.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from trace_core import bundle, no_trace
from trace_core._sandbox import Limits, Sandbox, best_isolation


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (imports, caches, the bwrap probe)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _bare() -> None:
    subprocess.run([sys.executable, "-I", "-S", "-c", "print(sum([1, 2, 3]))"], check=True, capture_output=True)


def _trainable(level: str, warm: bool):
    @bundle(trainable=True, isolation=level, timeout=30)
    def score(x):
        return x * 2

    score._runner = Sandbox(level, limits=Limits(timeout=30), warm=warm)
    score.parameter.set("def score(x):\n    return x * 3\n")

    def call() -> None:
        with no_trace():
            assert score(2) == 6

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    levels = ["process"] + (["namespaces"] if best_isolation() == "namespaces" else [])
    bare = _median_ms(_bare, args.repeats)
    print(f"{'call':<36} {'median ms':>10} {'extra ms':>10} {'ratio':>7}")
    print(f"{'bare subprocess.run (baseline)':<36} {bare:>10.1f} {0:>10.1f} {1:>7.2f}")
    for level in levels:
        for warm in (False, True):
            sandbox = Sandbox(level, warm=warm)
            pool = "warm" if warm else "cold"
            rows = {f"Sandbox.run sum, {level}, {pool}": lambda s=sandbox: s.run(sum, [1, 2, 3]),
                    f"proposal, {level}, {pool}": _trainable(level, warm)}
            for name, fn in rows.items():
                ms = _median_ms(fn, args.repeats)
                print(f"{name:<36} {ms:>10.1f} {ms - bare:>10.1f} {ms / bare:>7.2f}")
    print("cold: every call starts a fresh interpreter (and bwrap); warm: a fresh child forked from a zygote")


if __name__ == "__main__":
    main()
