"""HPO benchmarks: Search on Hartmann-6 against Optuna, loop overhead, digits with pruning.

Cases (``--case``, default all):

- ``hartmann``: Hartmann-6 (6-d, known minimum -3.32237) — our ``Search`` driven by
  ``agents.optimize`` (TPE, CMA-ES, random) against Optuna driving the same function
  directly with the same sampler settings; 60 evaluations x 5 seeds; regret = best - minimum.
  The same runs give the loop's overhead per trial: (our wall time - Optuna's) / trials.
- ``digits``: the ``hpo`` task on digits, TPE, 30 evaluations x 3 seeds, with and without
  Optuna's median pruner; epochs trained and best validation accuracy.
- ``optoprime``: one OptoPrime run on digits with a scripted LLM (a rule that reads the
  current values and the feedback's learning-curve notes from the prompt and changes one
  thing), to show the path works; its score is no claim.

Run: ``PYTHONPATH=. python benchmarks/hpo_bench.py [--quick] [--case digits] [--device cuda]``.
Medians with [min, max] over seeds. Targets: equal regret to Optuna, <= 5 ms overhead per
trial, pruning saves >= 30% of the epochs at an equal best score.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import numpy as np  # noqa: E402

A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
              [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
HARTMANN6_MIN = -3.32237


def hartmann6(x: Sequence[float]) -> float:
    """The 6-d Hartmann function on [0, 1]^6 (minimum -3.32237)."""
    return float(-ALPHA @ np.exp(-(A * (np.asarray(x) - P) ** 2).sum(axis=1)))


# -- reporting -------------------------------------------------------------------------------
def spread(values: Sequence[float], fmt: str = "{:.4f}") -> str:
    """``median [min, max]`` of ``values``."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return "n/a"
    return f"{fmt.format(statistics.median(vals))} [{fmt.format(min(vals))}, {fmt.format(max(vals))}]"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a plain aligned table."""
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n## {title}")
    for i, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def optimize_with(task: Any, optimizer: Any, evaluations: int, seed: int, **kw: Any) -> tuple[Any, float]:
    """``agents.optimize`` with an in-memory store; returns (RunResult, wall seconds).

    The process CPU seconds it took are in ``last_cpu[0]`` (robust on a shared machine)."""
    from agents.loop import optimize
    from trace_core import Budget

    start, cpu = time.perf_counter(), time.process_time()
    res = optimize(task, optimizer=optimizer, budget=Budget(max_evaluations=evaluations), k=1,
                   executor="thread", seed=seed, store="sqlite:///:memory:", **kw)
    last_cpu[0] = time.process_time() - cpu
    return res, time.perf_counter() - start


last_cpu = [0.0]


def search(params: list[Any], sampler: str, seed: int, **kw: Any) -> Any:
    """Our Search. It never reads the trace, so the loop's forward pass is skipped."""
    from optimizers.search import Search

    opt = Search(params, sampler=sampler, seed=seed, **kw)
    opt.needs_trace = False
    return opt


# -- Hartmann-6 ------------------------------------------------------------------------------
def hartmann_task() -> Any:
    from tasks.base import BaseTask
    from trace_core import Feedback, Parameter, bundle
    from trace_core.spaces import Float

    @bundle
    def hartmann(x0: float, x1: float, x2: float, x3: float, x4: float, x5: float) -> float:
        """The Hartmann-6 function."""
        return hartmann6([x0, x1, x2, x3, x4, x5])

    class Hartmann6(BaseTask):
        name, direction, description = "hartmann6", "minimize", "minimize the Hartmann-6 function"

        def __init__(self) -> None:
            super().__init__()
            self.params = [Parameter(0.5, name=f"x{i}", space=Float(0.0, 1.0)) for i in range(6)]

        def parameters(self) -> list[Any]:
            return list(self.params)

        def run(self, example: Any) -> Any:
            return hartmann(*self.params)

        def evaluate(self, example: Any, output: Any) -> Any:
            return Feedback(score=getattr(output, "value", output))

    return Hartmann6()


def optuna_sampler(name: str, seed: int) -> Any:
    """The sampler Search builds for ``name`` (same settings)."""
    import optuna

    return {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }[name]()


def run_optuna(sampler: str, seed: int, n: int) -> tuple[float, float, float]:
    """Optuna alone: (best value, wall seconds, CPU seconds)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start, cpu = time.perf_counter(), time.process_time()
    study = optuna.create_study(direction="minimize", sampler=optuna_sampler(sampler, seed))
    study.optimize(lambda t: hartmann6([t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(6)]), n_trials=n)
    return study.best_value, time.perf_counter() - start, time.process_time() - cpu


def case_hartmann(seeds: int, evals: int) -> None:
    samplers = ["tpe", "cmaes", "random"]
    try:
        import cmaes  # noqa: F401
    except ImportError:
        print("(cmaes is not installed: the CMA-ES rows are skipped; pip install cmaes)")
        samplers.remove("cmaes")
    import agents.loop  # noqa: F401 - imported before the clocks start
    import optuna  # noqa: F401

    rows, overhead = [], []
    for sampler in samplers:
        ours, theirs, over, over_cpu = [], [], [], []
        for seed in range(seeds):
            task = hartmann_task()
            res, sec = optimize_with(task, search(task.parameters(), sampler, seed, direction="minimize"), evals, seed)
            cpu = last_cpu[0]
            best, osec, ocpu = run_optuna(sampler, seed, evals)
            ours.append(res.best_score - HARTMANN6_MIN)
            theirs.append(best - HARTMANN6_MIN)
            over.append(1000 * (sec - osec) / evals)
            over_cpu.append(1000 * (cpu - ocpu) / evals)
            overhead.append((sampler, sec, osec))
        ratio = statistics.median(ours) / max(statistics.median(theirs), 1e-12)
        rows.append([sampler, spread(ours), spread(theirs), f"{ratio:.2f}", spread(over, "{:.2f}"),
                     spread(over_cpu, "{:.2f}")])
    table(f"Hartmann-6 regret after {evals} evaluations, {seeds} seeds (median [min, max]; lower is better)",
          ["sampler", "ours (Search + optimize)", "Optuna directly", "ratio ours/optuna", "overhead wall ms/trial",
           "overhead CPU ms/trial"], rows)
    total_ours = sum(s for _, s, _ in overhead)
    total_optuna = sum(o for _, _, o in overhead)
    print(f"wall time: ours {total_ours:.1f}s, Optuna {total_optuna:.1f}s over {len(overhead) * evals} trials each")


# -- digits with and without pruning --------------------------------------------------------
def digits_run(seed: int, evals: int, pruner: str, device: str) -> dict[str, float]:
    from tasks.hpo import HPOTask

    task = HPOTask("digits", device=device)
    opt = search(task.parameters(), "tpe", seed, pruner=pruner)
    res, sec = optimize_with(task, opt, evals, seed)
    trials = opt.study.trials
    start = {p.name: p.value for p in task.parameters()}["epochs"]  # the starting values are not reported
    epochs = sum(len(t.intermediate_values) for t in trials) + start
    return {"best": res.best_score, "epochs": epochs, "seconds": sec,
            "pruned": sum(t.state.name == "PRUNED" for t in trials)}


def case_digits(seeds: int, evals: int, device: str) -> None:
    runs = {p: [digits_run(s, evals, p, device) for s in range(seeds)] for p in ("none", "median")}
    rows = []
    for pruner, rs in runs.items():
        rows.append([pruner, spread([r["best"] for r in rs]), spread([r["epochs"] for r in rs], "{:.0f}"),
                     spread([r["pruned"] for r in rs], "{:.0f}"), spread([r["seconds"] for r in rs], "{:.1f}")])
    saved = [1 - m["epochs"] / n["epochs"] for n, m in zip(runs["none"], runs["median"])]
    table(f"digits HPO, TPE, {evals} evaluations x {seeds} seeds on {device} (median [min, max])",
          ["pruner", "best val_acc", "epochs trained", "trials pruned", "seconds"], rows)
    print(f"epochs saved by pruning: {spread([100 * s for s in saved], '{:.0f}')} %  (target >= 30%)")
    gap = statistics.median(r["best"] for r in runs["median"]) - statistics.median(r["best"] for r in runs["none"])
    print(f"best val_acc, median pruned - unpruned: {gap:+.4f} (one validation row is {1 / 450:.4f})")


def default_vs_cuda(device: str) -> None:
    """One default-config evaluation per device: the speed-up of ``device`` over the CPU."""
    from tasks.hpo import HPOTask

    rows = []
    for dev in dict.fromkeys(["cpu", device]):
        task = HPOTask("digits", device=dev)
        task.evaluate(0, task.run(0))  # warm-up
        fbs = [task.evaluate(s, task.run(s)) for s in range(3)]
        rows.append([dev, spread([f.metrics["seconds"] for f in fbs], "{:.3f}"), spread([f.score for f in fbs])])
    table("one default evaluation (20 epochs)", ["device", "train seconds", "val_acc"], rows)


# -- OptoPrime with a scripted LLM ------------------------------------------------------------
_MOVES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("wider layers", lambda c: c.update(width=min(2 * c["width"], 256))),
    ("smaller batches", lambda c: c.update(batch_size=max(c["batch_size"] // 2, 16))),
    ("adamw, more weight decay", lambda c: c.update(optimizer="adamw", weight_decay=min(10 * c["weight_decay"], 0.1))),
    ("a larger learning rate", lambda c: c.update(lr=min(c["lr"] * 2, 0.3))),
]


def curve_rule() -> Callable[[list[dict[str, Any]]], str]:
    """A scripted 'LLM': reads the current values and the feedback's notes from the prompt and
    changes one thing, as a person might (the notes first, else the next of a few moves)."""
    calls = [0]

    def reply(messages: list[dict[str, Any]]) -> str:
        text = messages[-1]["content"]
        variables = text[text.find("# Variables"):text.find("# Inputs")]
        current = {m[1]: json.loads(m[2]) for m in re.finditer(r"^(\w+) \(.*\) = (.+)$", variables, re.M)}
        feedback = text[text.find("# Feedback"):]
        feedback = feedback[:feedback.find("# Earlier")] if "# Earlier" in feedback else feedback
        if re.search(r"diverged|unstable|near chance", feedback):
            current["lr"], why = max(current["lr"] / 3, 1e-4), "unstable: lower the learning rate"
        elif "overfitting" in feedback:
            current["dropout"], why = min(current["dropout"] + 0.1, 0.5), "overfitting: more dropout"
        elif "not converged" in feedback:
            current["epochs"], why = min(current["epochs"] + 10, 30), "not converged: train longer"
        else:
            why, move = _MOVES[calls[0] % len(_MOVES)]
            move(current)
        calls[0] += 1
        return json.dumps({"reasoning": why, "suggestion": current, "no_change": False})

    return reply


def case_optoprime(evals: int, device: str) -> None:
    from optimizers.optoprime import OptoPrime
    from tasks.hpo import HPOTask
    from trace_core.llm import ScriptedLLM

    task = HPOTask("digits", device=device)
    llm = ScriptedLLM(curve_rule())
    res, sec = optimize_with(task, OptoPrime(task.parameters(), llm, memory=4), evals, 0)
    rows = [[h.step, " / ".join("failed" if s is None else f"{s:.4f}" for s in h.candidate_scores) or "no change",
             "yes" if h.accepted else "no"] for h in res.history]
    table(f"OptoPrime + scripted LLM on digits ({evals} evaluations, {sec:.1f}s; the path, not a claim)",
          ["step", "val_acc", "accepted"], rows)
    print(f"LLM calls: {len(llm.calls)}; prompts carried the learning curve: "
          f"{all('learning curve' in c[-1]['content'] for c in llm.calls)}; best {res.best_score:.4f} "
          f"vs start {res.initial_score:.4f}; best values {res.best_values}")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", action="append", choices=["hartmann", "digits", "optoprime"])
    ap.add_argument("--quick", action="store_true", help="fewer seeds and evaluations (a smoke run)")
    ap.add_argument("--device", default="cpu", help="device of the digits cases: cpu or cuda")
    args = ap.parse_args(argv)
    cases = args.case or ["hartmann", "digits", "optoprime"]
    q = args.quick
    started = time.perf_counter()
    if "hartmann" in cases:
        case_hartmann(seeds=2 if q else 5, evals=20 if q else 60)
    if "digits" in cases:
        if args.device != "cpu":
            default_vs_cuda(args.device)
        case_digits(seeds=1 if q else 3, evals=8 if q else 30, device=args.device)
    if "optoprime" in cases:
        case_optoprime(evals=3 if q else 6, device=args.device)
    print(f"\ntotal {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
