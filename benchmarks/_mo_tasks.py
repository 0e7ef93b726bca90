"""The task half of the multi-objective benchmark: design3d and NAS on digits.

Each task is built with ``multi_objective=True`` (design3d: drag vs cabin volume under the
car class's limits; NAS: validation accuracy vs parameter count). Every method gets the same
number of evaluations (the starting values count as one for Evolution), and the hypervolume
is over every feasible evaluated point against a fixed reference point (``REFERENCE``).

Methods: ``Evolution`` with NSGA-II selection (population 8, offspring 8, word operators on
the design3d prompt, Gaussian steps and resampling on the NAS architecture), the same
Evolution with the first objective only (design3d: what a single-objective run keeps
looking for), random search (design3d: random prompts of 2-6 vocabulary words; NAS:
Search's random sampler) and, where the parameter is numeric (NAS), Search with Optuna's
NSGA-II (population 8). Evaluations are deterministic (fixed training seed), so a
benchmark-wide cache scores a repeated value once; it changes time, not results.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

import optuna
import torch

from optimizers import Evolution, Search
from tasks.design3d import Design3DTask
from tasks.design3d.vocabulary import VOCABULARY
from tasks.nas import NASTask
from trace_core import Feedback, Objectives, hypervolume, using

torch.set_num_threads(1)

Point = tuple[float, ...]
POP = 8

#: fixed reference points, in the objectives' order (design3d: drag N, cabin m³; NAS: val_acc, n_params)
REFERENCE: dict[str, Point] = {"design3d": (2000.0, 2.5), "nas": (0.5, 100_000.0)}


def make_task(name: str, quick: bool) -> Any:
    if name == "design3d":
        return Design3DTask(multi_objective=True)
    return NASTask("digits", epochs=3 if quick else 5, max_train=600 if quick else None, multi_objective=True)


class Scorer:
    """Evaluate values on the task's first example, once per distinct value; count evaluations."""

    def __init__(self, task: Any) -> None:
        self.task, self.cache, self.objectives = task, {}, Objectives.of(task.objectives, task.constraints)
        self.seconds = 0.0

    def __call__(self, values: dict[str, Any]) -> Feedback:
        key = json.dumps(values, sort_keys=True, default=lambda v: v.model_dump() if hasattr(v, "model_dump") else str(v))
        if key not in self.cache:
            start = time.perf_counter()
            example = self.task.val[0]
            with using(values):
                self.cache[key] = self.task.evaluate(example, self.task.run(example))
            self.seconds += time.perf_counter() - start
        return self.cache[key]

    def point(self, fb: Feedback) -> Point | None:
        """The objectives of a feasible, successful evaluation; None otherwise."""
        values = self.objectives.values(fb.metrics)
        return None if fb.failed or values is None or not self.objectives.feasible(fb.metrics) else values


def _drive(opt: Any, score: Scorer, evals: int, start: bool) -> list[Feedback]:
    """Propose/observe as the loop does, ``POP`` candidates at a time, ``evals`` evaluations in all."""
    out = []
    if start:  # Evolution starts from the task's values, as in a run
        values = opt.values()
        out.append(score(values))
        opt.observe(values, out[-1])
    while len(out) < evals:
        for update in opt.propose(k=min(POP, evals - len(out))):
            values = {**opt.values(), **update.values}
            out.append(score(values))
            opt.observe(values, out[-1], update=update)
    return out


def evolution(score: Scorer, seed: int, evals: int, multi: bool = True) -> list[Feedback]:
    task = score.task
    extra = {"objectives": task.objectives, "constraints": task.constraints} if multi else {
        "direction": next(iter(task.objectives.values()))}
    opt = Evolution(task.parameters(), population=POP, offspring=POP, vocabulary=task.vocabulary, seed=seed, **extra)
    return _drive(opt, score, evals, start=True)


def search(score: Scorer, seed: int, evals: int, sampler: str) -> list[Feedback]:
    task = score.task
    chosen: Any = optuna.samplers.NSGAIISampler(population_size=POP, seed=seed) if sampler == "nsga2" else sampler
    opt = Search(task.parameters(), sampler=chosen, seed=seed, objectives=task.objectives,
                 constraints=task.constraints)
    return _drive(opt, score, evals, start=False)


def random_prompts(score: Scorer, seed: int, evals: int) -> list[Feedback]:
    rng = random.Random(seed)
    prompts = [" ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(2, 6))) for _ in range(evals)]
    return [score({"prompt": p}) for p in prompts]


#: task -> method -> run(scorer, seed, evals)
METHODS: dict[str, dict[str, Callable[[Scorer, int, int], list[Feedback]]]] = {
    "design3d": {
        "NSGA-II Evolution": evolution,
        "Evolution, drag only": lambda s, seed, e: evolution(s, seed, e, multi=False),
        "random prompts": random_prompts,
    },
    "nas": {
        "NSGA-II Evolution": evolution,
        "Search nsga2": lambda s, seed, e: search(s, seed, e, "nsga2"),
        "Search random": lambda s, seed, e: search(s, seed, e, "random"),
    },
}


def bench_tasks(evals: dict[str, int], seeds: int, quick: bool) -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out: dict[str, Any] = {}
    for name, methods in METHODS.items():
        if not evals.get(name):
            continue
        score = Scorer(make_task(name, quick))
        senses = score.objectives.senses
        hv: dict[str, list[float]] = {m: [] for m in methods}
        feasible: dict[str, list[int]] = {m: [] for m in methods}
        secs: dict[str, float] = {m: 0.0 for m in methods}
        for seed in range(seeds):
            for method, run in methods.items():
                start = time.perf_counter()
                fbs = run(score, seed, evals[name])
                secs[method] += time.perf_counter() - start
                assert len(fbs) == evals[name], (method, len(fbs))
                points = [p for p in map(score.point, fbs) if p is not None]
                hv[method].append(hypervolume(points, REFERENCE[name], senses) if points else 0.0)
                feasible[method].append(len(points))
        out[name] = {"evals": evals[name], "objectives": score.objectives.as_dict(), "reference": REFERENCE[name],
                     "hypervolume": hv, "feasible": feasible, "seconds": secs,
                     "distinct_evaluations": len(score.cache), "evaluation_seconds": score.seconds}
    return out
