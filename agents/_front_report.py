"""Fronts in nightly checks: the regression check of a multi-objective run (it compares
hypervolumes), and its warm start (one member of the last front). The report's front
section is :mod:`agents._report_front`.

Two runs' fronts are measured against one reference point: the one the task declares,
else the rule of :mod:`agents._front` applied to both fronts and the worst values both
runs observed. ``--fail-on-regression PCT`` then flags a hypervolume more than PCT
percent below the previous run's. Runs whose objectives differ are not comparable.

A warm start from a multi-objective run begins at the member of its last front with the
largest exclusive hypervolume (what the front would lose without it), ties to the
earliest: a point where the trade-off is well balanced rather than an extreme.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agents._front import compare_points, contributions, objectives_from_config
from agents.store import RunStore

__all__ = ["front_comparison", "warm_start_row"]


def front_comparison(store: RunStore, run: dict[str, Any], previous: dict[str, Any] | None) -> Any:
    """The hypervolume :class:`~agents._report_text.Comparison` of a multi-objective run with
    ``previous``; None for a single-objective run or without a previous run."""
    from agents._report_text import Comparison, compare

    this = objectives_from_config(run.get("config"))
    if this is None or previous is None:
        return None
    objectives, declared = this
    other = objectives_from_config(previous.get("config"))
    front, before = store.front(run["id"]), store.front(previous["id"])
    same = other is not None and (other[0].names, other[0].senses) == (objectives.names, objectives.senses)
    if not same or before is None:
        return Comparison(previous["id"], None, None, "maximize", None, None, measure="hypervolume")
    worst = [w for w in ((front or {}).get("worst"), before.get("worst")) if w]
    points = [m["objectives"] for m in (front or {}).get("members", [])]
    hv, prev_hv, _ = compare_points(points, [m["objectives"] for m in before["members"]], objectives.senses,
                                    declared, worst=worst)
    return dataclasses.replace(compare(hv, {"id": previous["id"], "best_score": prev_hv}, "maximize"),
                               measure="hypervolume")


def warm_start_row(store: RunStore, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """``previous`` with ``best_values`` set to its front's warm-start member (module
    docstring) when it is a multi-objective run; otherwise ``previous`` as it is."""
    found = None if previous is None else objectives_from_config(previous.get("config"))
    front = None if found is None else store.front(previous["id"])
    if not front or not front["members"]:
        return previous
    objectives, declared = found
    points = [m["objectives"] for m in front["members"]]
    reference = declared or front.get("reference")
    shares = contributions(points, objectives.senses, reference)
    pick = front["members"][max(range(len(points)), key=lambda i: (shares[i], -i))]
    return {**previous, "best_values": pick["values"], "warm_member": (pick["step"], pick["candidate"])}
