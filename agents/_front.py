"""The front a multi-objective run keeps: which candidates are on it, the acceptance
decision of a step, and the front's hypervolume.

A task with ``objectives`` (see :mod:`trace_core.objectives`) is multi-objective. Its
run keeps every non-dominated feasible candidate, not one best: after each step the
front is the non-dominated set of the old front and the step's candidates whose
evaluation succeeded, whose metrics hold every objective and that meet every
constraint. A step is *accepted* when one of its candidates entered the front; the live
values move to the entering candidate with the best ``Feedback.score`` (the first
objective). The run's ``incumbent_score`` is the best first-objective value on the
front, which never gets worse.

The hypervolume is measured against the task's ``reference_point`` when it declares one
(one value per objective, in the objectives' order). Otherwise the rule is
:func:`reference_for`: the worst value of each objective among the feasible candidates
observed so far (dominated ones included), moved away by a tenth of the observed range
(a tenth of the value itself, or 1, when the range is 0). That point only moves outward
as a run goes on, so the hypervolume after each step never falls. Each step stores the
reference point its hypervolume was measured against and the worst values observed;
two runs are compared against one reference point (:func:`compare_points`).

Example:
    >>> from trace_core import Objectives
    >>> front = Front(Objectives.of({"acc": "maximize", "size": "minimize"}), reference=(0.0, 100.0))
    >>> front.add(1, [(0, {"acc": 0.9, "size": 50.0}), (1, {"acc": 0.8, "size": 60.0})])
    [0]
    >>> front.add(2, [(0, {"acc": 0.7, "size": 10.0})]), front.hypervolume()
    ([0], 73.0)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trace_core.errors import ConfigError
from trace_core.feedback import Direction
from trace_core.objectives import Objectives, hypervolume, non_dominated

__all__ = ["Member", "FrontState", "Front", "objectives_of", "reference_for", "front_config", "objectives_from_config",
           "hypervolume_of", "compare_points", "contributions", "restored_front", "search_options"]

log = logging.getLogger(__name__)

_MARGIN = 0.1  # of the range, beyond the worst value, where the reference point sits


@dataclass(frozen=True)
class Member:
    """A candidate on the front: the step that made it, its index among that step's
    candidates (as stored), and its objective values in the objectives' order."""

    step: int
    candidate: int
    objectives: tuple[float, ...]


@dataclass(frozen=True)
class FrontState:
    """What the store keeps for one step: the members, the hypervolume measured against
    ``reference`` (None while the front is empty), and the worst objective values observed."""

    members: tuple[Member, ...]
    reference: tuple[float, ...] | None
    hypervolume: float | None
    worst: tuple[float, ...] | None = None


def objectives_of(task: Any) -> Objectives | None:
    """The task's objectives and constraints; None for a single-objective task."""
    declared = getattr(task, "objectives", None)
    if not declared:
        return None
    try:
        return Objectives.of(declared, getattr(task, "constraints", None) or ())
    except ValueError as e:
        raise ConfigError(f"task {getattr(task, 'name', 'task')!r}: {e}") from None


def _declared_reference(task: Any, objectives: Objectives) -> tuple[float, ...] | None:
    ref = getattr(task, "reference_point", None)
    if ref is None:
        return None
    if isinstance(ref, Mapping):
        missing = [n for n in objectives.names if n not in ref]
        if missing:
            raise ConfigError(f"reference_point has no value for objective(s) {', '.join(missing)}")
        ref = [ref[n] for n in objectives.names]
    values = tuple(float(v) for v in ref)
    if len(values) != len(objectives.names) or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"reference_point must hold {len(objectives.names)} finite numbers (one per objective "
                         f"{', '.join(objectives.names)}), got {list(ref)}")
    return values


def reference_for(points: Sequence[Sequence[float]], senses: Sequence[Direction]) -> tuple[float, ...] | None:
    """The reference point of the documented rule (module docstring) for ``points``;
    None when there are none."""
    if not points:
        return None
    out = []
    for i, sense in enumerate(senses):
        column = [p[i] for p in points]
        worst, best = (min(column), max(column)) if sense == "maximize" else (max(column), min(column))
        margin = _MARGIN * abs(best - worst) or _MARGIN * abs(worst) or 1.0
        out.append(worst - margin if sense == "maximize" else worst + margin)
    return tuple(out)


def hypervolume_of(points: Sequence[Sequence[float]], senses: Sequence[Direction],
                   reference: Sequence[float] | None) -> float:
    """The hypervolume of ``points`` against ``reference`` (0.0 without points or reference)."""
    if not points or reference is None:
        return 0.0
    return hypervolume(points, reference, senses)


class Front:
    """The non-dominated feasible candidates of a run so far."""

    def __init__(self, objectives: Objectives, reference: Sequence[float] | None = None,
                 members: Iterable[Member] = (), worst: Sequence[float] | None = None):
        self.objectives = objectives
        self.declared = None if reference is None else tuple(float(v) for v in reference)
        self.members: list[Member] = list(members)
        self.worst: tuple[float, ...] | None = None if worst is None else tuple(worst)
        self._told: set[str] = set()  # objectives already warned about

    @classmethod
    def for_task(cls, task: Any) -> Front | None:
        """The empty front of a multi-objective task; None for one objective."""
        objectives = objectives_of(task)
        return None if objectives is None else cls(objectives, _declared_reference(task, objectives))

    def point(self, result: Any) -> tuple[float, ...] | None:
        """A candidate's objective values when it may enter the front: evaluated without
        failing, every objective present, every constraint met; else None."""
        if result is None or not result.outcome.ok or result.feedback.failed:
            return None
        metrics = result.feedback.metrics
        values = self.objectives.values(metrics)
        if values is None:
            self._warn(metrics)
        return values if values is not None and self.objectives.feasible(metrics) else None

    def _warn(self, metrics: Mapping[str, float]) -> None:
        """Say once per objective that an evaluation lacked it (a misspelt name keeps the front empty)."""
        for name in self.objectives.names:
            value = metrics.get(name)
            if name in self._told or (value is not None and math.isfinite(value)):
                continue
            self._told.add(name)
            log.warning("objective %r is %s an evaluation's Feedback.metrics (it has: %s); an evaluation "
                        "without every objective never enters the front: check the objective's name and "
                        "that the feedback measures it", name, "missing from" if value is None else f"{value} in",
                        ", ".join(sorted(metrics)) or "no metrics")

    def offer(self, step: int, candidates: Sequence[Any]) -> list[int]:
        """Add a step's candidates (records with a ``result``); returns the indices of those
        that entered the front."""
        return self.add(step, [(i, c.result.feedback.metrics) for i, c in enumerate(candidates)
                               if self.point(c.result) is not None])

    def add(self, step: int, metrics: Sequence[tuple[int, Mapping[str, float]]]) -> list[int]:
        """Add candidates given as ``(index, metrics)``; returns the indices that entered."""
        new = []
        for i, m in metrics:
            values = self.objectives.values(m)
            if values is not None and self.objectives.feasible(m):
                new.append(Member(step, i, values))
                self._observe(values)
        pool = self.members + new
        keep = set(non_dominated([m.objectives for m in pool], self.objectives.senses))
        self.members = [m for j, m in enumerate(pool) if j in keep]
        return [m.candidate for m in self.members if m in new]

    def _observe(self, values: tuple[float, ...]) -> None:
        if self.worst is None:
            self.worst = values
            return
        self.worst = tuple((min if s == "maximize" else max)(w, v)
                           for w, v, s in zip(self.worst, values, self.objectives.senses))

    def decide(self, step: int, candidates: Sequence[Any]) -> Any | None:
        """Offer a step's candidates; the one the live values move to (the entering
        candidate with the best first objective), or None when none entered."""
        entered = [candidates[i] for i in self.offer(step, candidates)]
        if not entered:
            return None
        first = self.objectives.names[0]
        pick = max if self.objectives.senses[0] == "maximize" else min
        return pick(entered, key=lambda c: c.result.feedback.metrics[first])

    def best_score(self) -> float | None:
        """The best first-objective value on the front."""
        firsts = [m.objectives[0] for m in self.members]
        if not firsts:
            return None
        return max(firsts) if self.objectives.senses[0] == "maximize" else min(firsts)

    def reference(self) -> tuple[float, ...] | None:
        if self.declared is not None:
            return self.declared
        observed = [m.objectives for m in self.members] + ([self.worst] if self.worst is not None else [])
        return reference_for(observed, self.objectives.senses)

    def hypervolume(self) -> float | None:
        ref = self.reference()
        return None if ref is None else hypervolume_of([m.objectives for m in self.members], self.objectives.senses, ref)

    def state(self) -> FrontState:
        return FrontState(tuple(self.members), self.reference(), self.hypervolume(), self.worst)


def search_options(task: Any) -> dict[str, Any] | None:
    """What Search needs of a multi-objective task (its objectives and constraints); None for one objective."""
    objectives = objectives_of(task)
    if objectives is None:
        return None
    return {"objectives": objectives.as_dict(), "constraints": [str(c) for c in objectives.constraints]}


def front_config(task: Any) -> dict[str, Any]:
    """What a run's config records of a multi-objective task (``{}`` for one objective),
    so the store, the CLI and the regression check read the objectives back."""
    objectives = objectives_of(task)
    if objectives is None:
        return {}
    ref = _declared_reference(task, objectives)
    return {"objectives": {"names": list(objectives.names), "senses": list(objectives.senses),
                           "constraints": [str(c) for c in objectives.constraints],
                           "reference_point": None if ref is None else list(ref)}}


def objectives_from_config(config: Mapping[str, Any] | None) -> tuple[Objectives, tuple[float, ...] | None] | None:
    """The objectives and declared reference point a run's config recorded; None for a
    single-objective run."""
    stored = (config or {}).get("objectives")
    if not stored:
        return None
    objectives = Objectives.of(dict(zip(stored["names"], stored["senses"])), stored.get("constraints") or ())
    ref = stored.get("reference_point")
    return objectives, None if ref is None else tuple(ref)


def compare_points(front: Sequence[Sequence[float]], previous: Sequence[Sequence[float]],
                   senses: Sequence[Direction], reference: Sequence[float] | None = None,
                   worst: Sequence[Sequence[float]] = ()) -> tuple[float, float, tuple[float, ...] | None]:
    """Hypervolumes of two fronts against one reference point (the declared one, else the
    rule applied to both fronts and the worst values both runs observed):
    ``(this, previous, reference)``."""
    ref = tuple(reference) if reference is not None else reference_for([*front, *previous, *worst], senses)
    return hypervolume_of(front, senses, ref), hypervolume_of(previous, senses, ref), ref


def contributions(points: Sequence[Sequence[float]], senses: Sequence[Direction],
                  reference: Sequence[float] | None) -> list[float]:
    """Each point's exclusive hypervolume: what the front loses without it."""
    total = hypervolume_of(points, senses, reference)
    return [total - hypervolume_of([p for j, p in enumerate(points) if j != i], senses, reference)
            for i in range(len(points))]



def restored_front(store: Any, run_id: str, task: Any) -> Front | None:
    """A resumed run's front, as its last committed step left it (None for one objective)."""
    front = Front.for_task(task)
    stored = None if front is None else store.front(run_id)
    if front is not None and stored is not None:
        kept = objectives_from_config(store.get_run(run_id).get("config"))
        if kept is None or (kept[0].names, kept[0].senses) != (front.objectives.names, front.objectives.senses):
            was = "one objective" if kept is None else ", ".join(f"{n} ({s})" for n, s in kept[0].as_dict().items())
            raise ConfigError(f"run {run_id} kept a front over {was}, but the task now has "
                              f"{', '.join(f'{n} ({s})' for n, s in front.objectives.as_dict().items())}; resume it "
                              "with the objectives it was started with, or start a new run")
        front.members = [Member(m["step"], m["candidate"], tuple(m["objectives"])) for m in stored["members"]]
        front.worst = None if stored.get("worst") is None else tuple(stored["worst"])
    return front
