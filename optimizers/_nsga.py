"""NSGA-II survivor selection: constrained non-dominated sorting and crowding distance.

Deb et al. (2002), "A fast and elitist multiobjective genetic algorithm: NSGA-II", with
Deb's constraint rule (constrained domination): a feasible point beats an infeasible one,
of two infeasible points the smaller total violation wins, and two feasible points are
compared by Pareto dominance. A feasible point without objective values (a failed
evaluation) is worse than all of them; an infeasible one needs no values (its violation
ranks it). Optuna's pieces are private (``_fast_non_domination_rank`` and
``_calc_crowding_distance`` in ``optuna.samplers.nsgaii._elite_population_selection_strategy``)
and work on trials, so they are written here, small, over plain points.

Example:
    >>> order([(1.0, 4.0), (2.0, 2.0), (4.0, 1.0), (3.0, 3.0)], [0.0] * 4, ["minimize", "minimize"])
    [0, 2, 1, 3]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from trace_core import dominates
from trace_core.feedback import Direction

__all__ = ["Standing", "fronts", "crowding", "standings", "order"]


@dataclass(frozen=True)
class Standing:
    """Where one point stands: its front (0 the best) and crowding distance (larger: more alone)."""

    rank: int
    crowding: float


def _beats(a: int, b: int, points: Sequence[Sequence[float] | None], violation: Sequence[float],
           senses: Sequence[Direction]) -> bool:
    """Constrained domination of point ``a`` over point ``b`` (Deb's rule)."""
    pa, pb, va, vb = points[a], points[b], violation[a], violation[b]
    measured_a, measured_b = pa is not None or va > 0, pb is not None or vb > 0
    if not (measured_a and measured_b):
        return measured_a and not measured_b
    if va > 0 or vb > 0:
        return va < vb
    return dominates(pa, pb, senses)  # type: ignore[arg-type]


def fronts(points: Sequence[Sequence[float] | None], violation: Sequence[float],
           senses: Sequence[Direction]) -> list[list[int]]:
    """Indices grouped into fronts, best first (fast non-dominated sorting under Deb's rule).

    ``violation[i]`` is point ``i``'s total constraint violation (``<= 0`` feasible); a
    feasible point that is None (failed) lies in the last front.

    Example:
        >>> fronts([(1.0, 1.0), (2.0, 2.0), (0.5, 3.0), None], [0, 0, 0, 0], ["minimize", "minimize"])
        [[0, 2], [1], [3]]
    """
    n = len(points)
    beaten_by = [0] * n
    beats: list[list[int]] = [[] for _ in range(n)]
    for a in range(n):
        for b in range(a + 1, n):
            if _beats(a, b, points, violation, senses):
                beats[a].append(b)
                beaten_by[b] += 1
            elif _beats(b, a, points, violation, senses):
                beats[b].append(a)
                beaten_by[a] += 1
    out, current = [], [i for i in range(n) if beaten_by[i] == 0]
    while current:
        out.append(current)
        following = []
        for a in current:
            for b in beats[a]:
                beaten_by[b] -= 1
                if beaten_by[b] == 0:
                    following.append(b)
        current = sorted(following)
    return out


def crowding(points: Sequence[Sequence[float] | None]) -> list[float]:
    """Crowding distance of each point within one front: per objective, the gap between its
    two neighbours over the front's range, summed; the extremes (and fronts of at most two
    points, or points without values) get infinity.

    Example:
        >>> crowding([(0.0, 4.0), (1.0, 2.0), (3.0, 1.0), (4.0, 0.0)])
        [inf, 1.5, 1.25, inf]
    """
    n = len(points)
    distance = [0.0] * n
    scored = [i for i in range(n) if points[i] is not None]
    for i in set(range(n)) - set(scored):
        distance[i] = math.inf
    if len(scored) <= 2:
        return [math.inf] * n
    for m in range(len(points[scored[0]])):  # type: ignore[arg-type]
        ranked = sorted(scored, key=lambda i: points[i][m])  # type: ignore[index]
        lo, hi = points[ranked[0]][m], points[ranked[-1]][m]  # type: ignore[index]
        distance[ranked[0]] = distance[ranked[-1]] = math.inf
        if hi == lo:
            continue
        for before, i, after in zip(ranked, ranked[1:], ranked[2:]):
            distance[i] += (points[after][m] - points[before][m]) / (hi - lo)  # type: ignore[index]
    return distance


def standings(points: Sequence[Sequence[float] | None], violation: Sequence[float],
              senses: Sequence[Direction]) -> list[Standing]:
    """Each point's front and crowding distance (within its front)."""
    out: list[Standing | None] = [None] * len(points)
    for rank, front in enumerate(fronts(points, violation, senses)):
        for i, d in zip(front, crowding([points[i] for i in front])):
            out[i] = Standing(rank, d)
    return out  # type: ignore[return-value]


def order(points: Sequence[Sequence[float] | None], violation: Sequence[float],
          senses: Sequence[Direction]) -> list[int]:
    """Indices from best to worst: by front, then by crowding distance (larger first), then by
    index (stable). The first ``μ`` are NSGA-II's survivors."""
    stand = standings(points, violation, senses)
    return sorted(range(len(points)), key=lambda i: (stand[i].rank, -stand[i].crowding, i))
