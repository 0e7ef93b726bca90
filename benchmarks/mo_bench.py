"""Multi-objective benchmark: Search's NSGA-II and multi-objective TPE against Optuna's.

Problems, from their formulas (all objectives minimized):

- ZDT1 (10 variables in [0, 1]): f1 = x1, f2 = g (1 - sqrt(f1 / g)), g = 1 + 9 sum(x2..xn) / (n - 1)
- ZDT2 (10 variables): as ZDT1 with f2 = g (1 - (f1 / g)^2) (a concave front)
- DTLZ2 (3 objectives, 7 variables, k = 5): g = sum((xi - 0.5)^2 for the last k),
  f1 = (1+g) cos(x1 pi/2) cos(x2 pi/2), f2 = (1+g) cos(x1 pi/2) sin(x2 pi/2), f3 = (1+g) sin(x1 pi/2)

Each problem has a fixed hypervolume reference point (``REFERENCE``). Every method gets the
same number of evaluations (``--evals``, default 200) on the same seeds (``--seeds``,
default 5): our ``Search`` (``sampler="nsga2"`` and ``"tpe"``, driven by propose/observe as
the loop drives it), Optuna's ``NSGAIISampler`` and ``TPESampler`` (with Search's settings:
multivariate, constant liar) driven directly by ``study.optimize``, and Optuna's random
search. The table gives the median hypervolume [min, max] over seeds of all evaluated
points (larger is better), and the "same trials" check counts the runs in which Search
asked for exactly the parameters Optuna asked for. Target: equal to Optuna, same trials.

Run: ``PYTHONPATH=. python benchmarks/mo_bench.py [--evals 200] [--seeds 5] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import optuna  # noqa: E402

from optimizers import Search  # noqa: E402
from trace_core import Feedback, Parameter, hypervolume  # noqa: E402
from trace_core.spaces import Float  # noqa: E402

Point = tuple[float, ...]


def zdt1(x: Sequence[float]) -> Point:
    g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    return x[0], g * (1 - math.sqrt(x[0] / g))


def zdt2(x: Sequence[float]) -> Point:
    g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    return x[0], g * (1 - (x[0] / g) ** 2)


def dtlz2(x: Sequence[float]) -> Point:
    g = sum((xi - 0.5) ** 2 for xi in x[2:])
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return (1 + g) * math.cos(a) * math.cos(b), (1 + g) * math.cos(a) * math.sin(b), (1 + g) * math.sin(a)


#: name -> (function, number of variables, number of objectives)
PROBLEMS: dict[str, tuple[Callable[[Sequence[float]], Point], int, int]] = {
    "ZDT1": (zdt1, 10, 2), "ZDT2": (zdt2, 10, 2), "DTLZ2": (dtlz2, 7, 3)}
#: fixed reference points (a little beyond the worst values seen early in a run)
REFERENCE: dict[str, Point] = {"ZDT1": (1.1, 7.0), "ZDT2": (1.1, 7.0), "DTLZ2": (2.5, 2.5, 2.5)}


def _optuna_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """Optuna's samplers with the settings Search gives its named samplers."""
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def run_search(problem: str, sampler: str, seed: int, evals: int) -> tuple[list[Point], list[dict[str, float]]]:
    """Our Search, asked and told one candidate at a time as the loop does."""
    fn, n, m = PROBLEMS[problem]
    params = [Parameter(0.5, name=f"x{i}", space=Float(0.0, 1.0)) for i in range(n)]
    opt = Search(params, sampler=sampler, seed=seed, objectives={f"f{j}": "minimize" for j in range(m)})
    points = []
    for _ in range(evals):
        [update] = opt.propose(k=1)
        f = fn([update.values[f"x{i}"] for i in range(n)])
        opt.observe(update.values, Feedback(score=f[0], metrics={f"f{j}": v for j, v in enumerate(f)}), update=update)
        points.append(f)
    return points, [t.params for t in opt.study.trials]


def run_optuna(problem: str, sampler: str, seed: int, evals: int) -> tuple[list[Point], list[dict[str, float]]]:
    """Optuna driven directly."""
    fn, n, m = PROBLEMS[problem]
    study = optuna.create_study(directions=["minimize"] * m, sampler=_optuna_sampler(sampler, seed))
    study.optimize(lambda t: fn([t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(n)]), n_trials=evals)
    return [tuple(t.values) for t in study.trials], [t.params for t in study.trials]


METHODS: dict[str, Callable[[str, int, int], tuple[list[Point], list[dict[str, float]]]]] = {
    "Search nsga2": lambda p, s, e: run_search(p, "nsga2", s, e),
    "Optuna NSGA-II": lambda p, s, e: run_optuna(p, "nsga2", s, e),
    "Search tpe": lambda p, s, e: run_search(p, "tpe", s, e),
    "Optuna MO-TPE": lambda p, s, e: run_optuna(p, "tpe", s, e),
    "Optuna random": lambda p, s, e: run_optuna(p, "random", s, e),
}
PAIRS = (("Search nsga2", "Optuna NSGA-II"), ("Search tpe", "Optuna MO-TPE"))


def bench(evals: int, seeds: int) -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out: dict[str, Any] = {"evals": evals, "seeds": seeds, "problems": {}}
    for problem in PROBLEMS:
        m = PROBLEMS[problem][2]
        hv: dict[str, list[float]] = {name: [] for name in METHODS}
        secs: dict[str, float] = {name: 0.0 for name in METHODS}
        trials: dict[str, list[list[dict[str, float]]]] = {name: [] for name in METHODS}
        for seed in range(seeds):
            for name, method in METHODS.items():
                start = time.perf_counter()
                points, params = method(problem, seed, evals)
                secs[name] += time.perf_counter() - start
                hv[name].append(hypervolume(points, REFERENCE[problem], ["minimize"] * m))
                trials[name].append(params)
        same = {f"{a} = {b}": sum(x == y for x, y in zip(trials[a], trials[b])) for a, b in PAIRS}
        out["problems"][problem] = {"hypervolume": hv, "seconds": secs, "same_trials": same}
    return out


def _row(values: list[float]) -> str:
    return f"{statistics.median(values):8.4f} [{min(values):.4f}, {max(values):.4f}]"


def report(result: dict[str, Any]) -> str:
    lines = [f"median hypervolume [min, max] over {result['seeds']} seeds, {result['evals']} evaluations each "
             "(larger is better); ratio = median / Optuna's median with the same sampler"]
    for problem, r in result["problems"].items():
        lines.append(f"\n{problem} (reference point {REFERENCE[problem]})")
        lines.append(f"  {'method':16s} {'hypervolume':>30s}  {'ratio':>6s}  {'seconds':>7s}")
        base = {"Search nsga2": "Optuna NSGA-II", "Search tpe": "Optuna MO-TPE"}
        for name, values in r["hypervolume"].items():
            ref = base.get(name)
            ratio = f"{statistics.median(values) / statistics.median(r['hypervolume'][ref]):6.3f}" if ref else ""
            lines.append(f"  {name:16s} {_row(values):>30s}  {ratio:>6s}  {r['seconds'][name]:7.1f}")
        for pair, count in r["same_trials"].items():
            lines.append(f"  same trials, {pair}: {count}/{result['seeds']} seeds")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evals", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args()
    start = time.perf_counter()
    result = bench(args.evals, args.seeds)
    result["wall_seconds"] = time.perf_counter() - start
    print(report(result))
    print(f"\nwall time {result['wall_seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
