"""Objectives and constraints: several numbers to optimize at once, and bounds to respect.

A multi-objective task names the metrics it optimizes and their senses,
``{"val_acc": "maximize", "n_params": "minimize"}``, read from ``Feedback.metrics``.
Constraints (``"cabin_volume >= 3.0"``) are kept apart from the objectives, as Optuna's
``constraints_func`` does: a constraint is a *violation* number, feasible when ``<= 0``.

Candidates are compared by Pareto dominance, not by one score: ``a`` dominates ``b``
when ``a`` is no worse in every objective and better in one. The front (the
non-dominated feasible candidates) is what a multi-objective run keeps, and its
hypervolume against a fixed reference point is the one number that says how good a
front is (larger is better). The hypervolume is Optuna's exact computation
(``optuna._hypervolume.compute_hypervolume``: 2-D sweep, WFG in more dimensions).

Example:
    >>> obj = Objectives.of({"acc": "maximize", "size": "minimize"}, ["size <= 100"])
    >>> obj.values({"acc": 0.9, "size": 50.0}), obj.feasible({"acc": 0.9, "size": 150.0})
    ((0.9, 50.0), False)
    >>> non_dominated([(0.9, 50.0), (0.8, 60.0), (0.95, 90.0)], obj.senses)
    [0, 2]
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from trace_core.feedback import Direction

__all__ = ["Objectives", "Constraint", "dominates", "non_dominated", "hypervolume"]

Op = Literal[">=", "<="]
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(>=|<=)\s*([-+0-9.eE]+|[-+]?inf)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric op bound`` with ``op`` one of ``>=``, ``<=`` (``cabin_volume >= 3.0``).

    Example:
        >>> c = Constraint.parse("cabin_volume >= 3.0")
        >>> c.violation({"cabin_volume": 2.5}), c.violation({"cabin_volume": 3.5})
        (0.5, -0.5)
    """

    metric: str
    op: Op
    bound: float

    @classmethod
    def parse(cls, spec: str | Sequence[object] | Constraint) -> Constraint:
        """From ``"metric >= bound"``, ``(metric, op, bound)`` or a Constraint."""
        if isinstance(spec, Constraint):
            return spec
        if isinstance(spec, str):
            m = _CONSTRAINT.match(spec)
            if m is None:
                raise ValueError(f"constraint {spec!r} is not 'metric >= number' or 'metric <= number' "
                                 "(e.g. 'cabin_volume >= 3.0')")
            metric, op, bound = m.groups()
        else:
            if len(spec) != 3:
                raise ValueError(f"constraint {spec!r} is not (metric, op, bound), e.g. ('cabin_volume', '>=', 3.0)")
            metric, op, bound = spec
        if op not in (">=", "<="):
            raise ValueError(f"constraint {spec!r}: the operator must be '>=' or '<=', not {op!r}")
        try:
            number = float(bound)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"constraint {spec!r}: the bound {bound!r} is not a number") from None
        if math.isnan(number):
            raise ValueError(f"constraint {spec!r}: the bound is NaN; give a number")
        return cls(str(metric), op, number)  # type: ignore[arg-type]

    def violation(self, metrics: Mapping[str, float]) -> float:
        """How far ``metrics`` is outside the bound: ``<= 0`` is feasible; a missing or NaN
        metric is infinitely infeasible."""
        value = metrics.get(self.metric)
        if value is None or math.isnan(value):
            return math.inf
        return self.bound - value if self.op == ">=" else value - self.bound

    def __str__(self) -> str:  # the bound in full: this text is parsed again (job specs, a run's config)
        short = f"{self.bound:g}"
        return f"{self.metric} {self.op} {short if float(short) == self.bound else repr(self.bound)}"


@dataclass(frozen=True)
class Objectives:
    """The metrics a task optimizes (in order) and the constraints it must respect."""

    names: tuple[str, ...]
    senses: tuple[Direction, ...]
    constraints: tuple[Constraint, ...] = ()

    @classmethod
    def of(cls, objectives: Mapping[str, str] | Objectives,
           constraints: Iterable[str | Sequence[object] | Constraint] = ()) -> Objectives:
        """From ``{"metric": "maximize" | "minimize"}`` (order kept) and constraint specs."""
        extra = tuple(Constraint.parse(c) for c in constraints)
        if isinstance(objectives, Objectives):
            return cls(objectives.names, objectives.senses, objectives.constraints + extra)
        if not objectives:
            raise ValueError("objectives are empty; name at least one metric, e.g. {'val_acc': 'maximize'}")
        for name, sense in objectives.items():
            if sense not in ("maximize", "minimize"):
                raise ValueError(f"objective {name!r}: the sense must be 'maximize' or 'minimize', not {sense!r}")
        return cls(tuple(objectives), tuple(objectives.values()), extra)  # type: ignore[arg-type]

    def values(self, metrics: Mapping[str, float]) -> tuple[float, ...] | None:
        """The objectives' values read from ``metrics``; None when one is missing, NaN or
        infinite (an infinite value has no place on a front and no finite hypervolume)."""
        out = []
        for name in self.names:
            value = metrics.get(name)
            if value is None or not math.isfinite(value):
                return None
            out.append(float(value))
        return tuple(out)

    def violations(self, metrics: Mapping[str, float]) -> tuple[float, ...]:
        """One violation per constraint (``<= 0`` feasible), as Optuna's ``constraints_func`` returns."""
        return tuple(c.violation(metrics) for c in self.constraints)

    def feasible(self, metrics: Mapping[str, float]) -> bool:
        return all(v <= 0 for v in self.violations(metrics))

    def as_dict(self) -> dict[str, str]:
        return dict(zip(self.names, self.senses))


def _loss(point: Sequence[float], senses: Sequence[Direction]) -> list[float]:
    """The point with every objective turned into one to minimize."""
    if len(point) != len(senses):
        raise ValueError(f"a point has {len(point)} values but there are {len(senses)} objectives")
    return [-v if s == "maximize" else v for v, s in zip(point, senses)]


def dominates(a: Sequence[float], b: Sequence[float], senses: Sequence[Direction]) -> bool:
    """True when ``a`` is no worse than ``b`` in every objective and better in at least one."""
    la, lb = _loss(a, senses), _loss(b, senses)
    return all(x <= y for x, y in zip(la, lb)) and any(x < y for x, y in zip(la, lb))


def non_dominated(points: Sequence[Sequence[float]], senses: Sequence[Direction]) -> list[int]:
    """Indices of the points no other point dominates, in input order (duplicates all kept)."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p, senses) for q in points)]


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float], senses: Sequence[Direction]) -> float:
    """The volume dominated by ``points`` and bounded by ``reference`` (larger is better).

    Points that do not strictly dominate the reference add nothing. Computed by Optuna's
    exact hypervolume (``optuna._hypervolume.compute_hypervolume``).

    Example:
        >>> hypervolume([(1.0, 2.0), (2.0, 1.0)], (3.0, 3.0), ("minimize", "minimize"))
        3.0
    """
    import numpy as np
    from optuna._hypervolume import compute_hypervolume

    ref = np.asarray(_loss(reference, senses), dtype=float)
    losses = np.asarray([_loss(p, senses) for p in points], dtype=float).reshape(-1, len(senses))
    inside = losses[np.all(losses < ref, axis=1)]
    if len(inside) == 0:
        return 0.0
    front = np.unique(inside[non_dominated(inside.tolist(), ["minimize"] * len(senses))], axis=0)
    return float(compute_hypervolume(front, ref, assume_pareto=True))
