"""Multi-objective benchmark: Search against Optuna on test problems; NSGA-II Evolution on tasks.

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

Tasks (``benchmarks/_mo_tasks.py``): design3d (drag vs cabin volume, car class limits as
constraints) and NAS on digits (validation accuracy vs parameter count), at equal
evaluations (``--task-evals``, default 400 for design3d and 48 for NAS) over the same seeds:
NSGA-II Evolution against random search (and Search's NSGA-II where the parameter is
numeric), median hypervolume of the feasible evaluated points against a fixed reference
point. Target: NSGA-II Evolution beats random search on design3d.

Run: ``PYTHONPATH=. python benchmarks/mo_bench.py [--evals 200] [--seeds 5] [--only formulas|tasks]
[--quick] [--json out.json]``; ``--quick`` runs 3 seeds, 100 evaluations on the formulas and
design3d, 24 on a smaller NAS (3 epochs, 600 training rows).
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


def report_tasks(result: dict[str, Any], seeds: int) -> str:
    lines = [f"\nTasks: median hypervolume [min, max] of the feasible evaluated points over {seeds} seeds "
             "(larger is better); ratio = median / random's median; feasible = median count"]
    for task, r in result.items():
        aims = ", ".join(f"{s} {n}" for n, s in r["objectives"].items())
        lines.append(f"\n{task}: {aims}; {r['evals']} evaluations; reference point {tuple(r['reference'])}")
        lines.append(f"  {'method':22s} {'hypervolume':>36s}  {'ratio':>6s}  {'feasible':>8s}  {'seconds':>7s}")
        base = next(m for m in r["hypervolume"] if "random" in m)
        for name, values in r["hypervolume"].items():
            ratio = statistics.median(values) / statistics.median(r["hypervolume"][base])
            row = f"{statistics.median(values):12.6g} [{min(values):.6g}, {max(values):.6g}]"
            lines.append(f"  {name:22s} {row:>36s}  {ratio:6.3f}  {statistics.median(r['feasible'][name]):8.0f}  "
                         f"{r['seconds'][name]:7.1f}")
        wins = sum(a > b for a, b in zip(r["hypervolume"]["NSGA-II Evolution"], r["hypervolume"][base]))
        lines.append(f"  NSGA-II Evolution above {base} on {wins}/{seeds} seeds; {r['distinct_evaluations']} "
                     f"distinct evaluations took {r['evaluation_seconds']:.0f} s (a repeated value is scored once, "
                     "so seconds depend on the order methods run)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evals", type=int, help="evaluations on the formulas (default 200; 100 with --quick)")
    ap.add_argument("--task-evals", type=int, nargs=2, metavar=("DESIGN3D", "NAS"),
                    help="evaluations on design3d and NAS (default 400 48; 100 24 with --quick)")
    ap.add_argument("--seeds", type=int, help="seeds per method (default 5; 3 with --quick)")
    ap.add_argument("--only", choices=["formulas", "tasks"], help="run one half")
    ap.add_argument("--quick", action="store_true", help="a short run (smaller budgets, a smaller NAS)")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args()
    seeds = args.seeds or (3 if args.quick else 5)
    start = time.perf_counter()
    result: dict[str, Any] = {"seeds": seeds, "quick": args.quick}
    if args.only != "tasks":
        result.update(bench(args.evals or (100 if args.quick else 200), seeds))
        print(report(result))
    if args.only != "formulas":
        from _mo_tasks import bench_tasks  # noqa: PLC0415 - the tasks' imports (torch, trimesh) only when run

        design3d, nas = args.task_evals or ((100, 24) if args.quick else (400, 48))
        result["tasks"] = bench_tasks({"design3d": design3d, "nas": nas}, seeds, args.quick)
        print(report_tasks(result["tasks"], seeds))
    result["wall_seconds"] = time.perf_counter() - start
    print(f"\nwall time {result['wall_seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
