"""Benchmark of the tracing core, each figure beside plain Python measured in the same run.

Prints one table:

* µs per traced binary op (``a + b`` on two Nodes) and per bundle call, 10,000 of each,
  against the same op on floats and the same function called plainly;
* backward time and peak memory per node (tracemalloc, measured during backward only)
  for chains of 1,000 … 1,000,000 nodes, a fan-in of 10,000 parameters, a chain with a
  parameter joining at every step and a balanced tree, against a plain iterative walk
  over the same graph (a set of visited ids and a stack);
* the time to delete a 1,000,000-node chain (it must not crash: no deallocation
  recursion).

Targets (medians, 2-core machine): <= 3 µs per traced op, 10,000-node chain backward
<= 25 ms, <= 1 KB per node during backward, time per node flat up to 1,000,000 nodes.

Run: ``.venv/bin/python benchmarks/trace_core_bench.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from trace_core import Node, Parameter, backward, bundle, node, subgraph

OPS_N = 10_000


def _median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak memory allocated while ``fn`` runs (the graph itself is built before)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del result
    return peak


def plain_walk(outputs: list[Node]) -> int:
    """The baseline: visit every node of the graph once with plain Python."""
    seen = {id(o) for o in outputs}
    stack = list(outputs)
    while stack:
        for p in stack.pop().parents:
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return len(seen)


# -- ops --------------------------------------------------------------------------
def bench_ops(repeats: int) -> list[tuple[str, float, float]]:
    a, b = node(1.5, name="a"), node(2.5, name="b")
    fa, fb = 1.5, 2.5

    def traced_ops() -> None:
        for _ in range(OPS_N):
            a + b

    def plain_ops() -> None:
        for _ in range(OPS_N):
            fa + fb

    def traced_chain() -> None:
        y = a
        for _ in range(OPS_N):
            y = y + b

    def plain_chain() -> None:
        y = fa
        for _ in range(OPS_N):
            y = y + fb

    def add(x: float, y: float) -> float:
        """Adds two numbers."""
        return x + y

    traced_add = bundle(add)

    def traced_calls() -> None:
        for _ in range(OPS_N):
            traced_add(a, b)

    def plain_calls() -> None:
        for _ in range(OPS_N):
            add(fa, fb)

    rows = []
    for label, traced, plain in (
        ("binary op a + b (µs)", traced_ops, plain_ops),
        ("binary op, chained y = y + b (µs)", traced_chain, plain_chain),
        ("bundle call f(a, b) (µs)", traced_calls, plain_calls),
    ):
        t = _median_seconds(traced, repeats) / OPS_N * 1e6
        p = _median_seconds(plain, repeats) / OPS_N * 1e6
        rows.append((label, t, p))
    return rows


# -- graphs -----------------------------------------------------------------------
def chain(n: int) -> tuple[Node, int]:
    """``n`` traced adds of a shared constant onto one parameter."""
    y: Node = Parameter(0.0, name="x")
    one = node(1.0, name="one")
    for _ in range(n):
        y = y + one
    return y, 1


def chain_with_parameters(n: int) -> tuple[Node, int]:
    """A chain where a new parameter joins at every step."""
    y: Node = Parameter(0.0, name="p0")
    for i in range(1, n):
        y = y + Parameter(1.0, name=f"p{i}")
    return y, n


def fan_in(n: int) -> tuple[Node, int]:
    """One bundle call reading ``n`` parameters."""
    params = [Parameter(float(i), name=f"p{i}") for i in range(n)]

    @bundle
    def total(*xs: float) -> float:
        return sum(xs)

    return total(*params), n


def tree(leaves: int) -> tuple[Node, int]:
    """A balanced binary tree of adds over ``leaves`` parameters."""
    level: list[Node] = [Parameter(1.0, name=f"p{i}") for i in range(leaves)]
    while len(level) > 1:
        level = [level[i] + level[i + 1] for i in range(0, len(level), 2)]
    return level[0], leaves


def minibatch(n: int) -> tuple[list[Node], int]:
    """``n`` outputs ``w * i + p_i``: one shared parameter, one private parameter each."""
    w = Parameter(1.0, name="w")
    return [w * i + Parameter(0.0, name=f"p{i}") for i in range(n)], n + 1


def bench_graph(label: str, build: Callable[[], tuple[Any, int]], repeats: int) -> dict[str, Any]:
    out, n_params = build()
    outputs = out if isinstance(out, list) else [out]
    pairs = [(o, f"feedback {i}") for i, o in enumerate(outputs)]
    n_nodes = plain_walk(outputs)
    t_back = _median_seconds(lambda: backward(pairs), repeats)
    t_plain = _median_seconds(lambda: plain_walk(outputs), repeats)
    result = backward(pairs)
    assert len(result) == n_params, (label, len(result), n_params)
    t_sub = _median_seconds(lambda: subgraph(result), repeats) if n_params > 1 else None
    del result
    mem_back = _peak_bytes(lambda: backward(pairs))
    mem_plain = _peak_bytes(lambda: plain_walk(outputs))
    return dict(label=label, nodes=n_nodes, params=n_params, t_back=t_back, t_plain=t_plain,
                t_sub=t_sub, mem_back=mem_back, mem_plain=mem_plain)


def bench_delete(n: int) -> float:
    out, _ = chain(n)
    gc.collect()
    t0 = time.perf_counter()
    del out
    gc.collect()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 1,000,000-node cases")
    args = parser.parse_args(argv)
    sys.setrecursionlimit(1000)  # the core must not need more

    print(f"Python {sys.version.split()[0]}; medians; plain = the same work in plain Python, same run\n")
    print(f"{'ops (10,000 each)':44} {'traced':>10} {'plain':>10} {'ratio':>8}  target")
    for label, t, p in bench_ops(repeats=9):
        target = "<= 3 µs" if label.startswith("binary op a + b") else ""
        ok = ("ok" if t <= 3 else "MISSED") if target else ""
        print(f"{label:44} {t:10.3f} {p:10.3f} {t / p:8.0f}x  {target} {ok}")

    sizes = [1_000, 10_000, 100_000] + ([] if args.quick else [1_000_000])
    cases: list[tuple[str, Callable[[], tuple[Node, int]], int]] = [
        (f"chain {n:,}", (lambda n=n: chain(n)), 7 if n <= 10_000 else (5 if n <= 100_000 else 3)) for n in sizes
    ]
    cases += [
        ("fan-in of 10,000 parameters", lambda: fan_in(10_000), 7),
        ("chain, a parameter per step (10,000)", lambda: chain_with_parameters(10_000), 7),
        ("balanced tree (16,384 leaves)", lambda: tree(16_384), 7),
        ("minibatch: 1,000 outputs, shared param", lambda: minibatch(1_000), 7),
    ]
    print()
    header = (f"{'backward':38} {'nodes':>9} {'params':>7} {'ms':>9} {'plain ms':>9} {'ratio':>6} "
              f"{'µs/node':>8} {'B/node':>7} {'plain B/n':>9} {'union ms':>9}")
    print(header)
    chains: dict[int, dict[str, Any]] = {}
    worst_bytes = 0.0
    for label, build, repeats in cases:
        r = bench_graph(label, build, repeats)
        gc.collect()
        if label.startswith("chain ") and "parameter" not in label:
            chains[r["nodes"]] = r
        worst_bytes = max(worst_bytes, r["mem_back"] / r["nodes"])
        sub = "" if r["t_sub"] is None else f"{r['t_sub'] * 1e3:9.2f}"
        print(f"{label:38} {r['nodes']:9,} {r['params']:7,} {r['t_back'] * 1e3:9.2f} {r['t_plain'] * 1e3:9.2f} "
              f"{r['t_back'] / r['t_plain']:5.1f}x {r['t_back'] / r['nodes'] * 1e6:8.3f} "
              f"{r['mem_back'] / r['nodes']:7.0f} {r['mem_plain'] / r['nodes']:9.0f} {sub}")

    print()
    ten_k = chains[10_002]["t_back"] * 1e3
    print(f"10,000-node chain backward: {ten_k:.2f} ms (target <= 25 ms) {'ok' if ten_k <= 25 else 'MISSED'}")
    print(f"worst peak memory during backward: {worst_bytes:.0f} B/node (target <= 1024) "
          f"{'ok' if worst_bytes <= 1024 else 'MISSED'}")
    small, large = chains[min(chains)], chains[max(chains)]

    def growth(key: str) -> float:
        return (large[key] / large["nodes"]) / (small[key] / small["nodes"])

    print(f"linearity, time per node at {large['nodes']:,} / at {small['nodes']:,} nodes: backward "
          f"{growth('t_back'):.2f}, plain walk {growth('t_plain'):.2f}, backward relative to plain "
          f"{growth('t_back') / growth('t_plain'):.2f} (1.0 is linear)")
    n_del = 100_000 if args.quick else 1_000_000
    print(f"deleting a {n_del:,}-node chain: {bench_delete(n_del) * 1e3:.1f} ms, no crash")


if __name__ == "__main__":
    main()
