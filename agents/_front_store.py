"""The rows of a multi-objective run's front (tables ``fronts`` and ``front_members``,
schema version 4): written with each step, read back for the CLI, reports and checks.

A member's ``values`` are the full parameter values it was evaluated with: the values
before its step with the candidate's own values over them (a proposal may hold only
the parameters it changes); ``changed`` holds those that differ from the values before
its step (none for the starting values, step 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agents._schema import candidates, front_members, fronts, steps

__all__ = ["front_rows", "read_front", "read_fronts"]


def front_rows(key: Mapping[str, Any], state: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``fronts`` row and the ``front_members`` rows of one step's front state."""
    row = {**key, "size": len(state.members), "hypervolume": state.hypervolume,
           "reference": None if state.reference is None else list(state.reference),
           "worst": None if state.worst is None else list(state.worst)}
    members = [{**key, "member_step": m.step, "member_idx": m.candidate, "objectives": list(m.objectives)}
               for m in state.members]
    return row, members


def read_fronts(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """Every step's front summary, oldest first: ``step``, ``size``, ``hypervolume``, ``reference``, ``worst``."""
    rows = conn.execute(sa.select(fronts.c.step, fronts.c.size, fronts.c.hypervolume, fronts.c.reference,
                                  fronts.c.worst)
                        .where(fronts.c.run_id == run_id).order_by(fronts.c.step)).mappings().all()
    return [dict(r) for r in rows]


def read_front(conn: Connection, run_id: str, step: int | None = None) -> dict[str, Any] | None:
    """The front after ``step`` (default: the last step that kept one), or None when the
    run keeps no front (one objective) or has no such step.

    Returns ``step``, ``hypervolume``, ``reference``, ``worst`` and ``members``, each member with
    ``step``, ``candidate``, ``objectives`` (values in order), ``values``, ``changed``,
    ``reasoning``, ``metrics`` and ``score``.
    """
    q = sa.select(fronts).where(fronts.c.run_id == run_id)
    q = q.where(fronts.c.step == step) if step is not None else q.order_by(fronts.c.step.desc()).limit(1)
    head = conn.execute(q).mappings().first()
    if head is None:
        return None
    rows = conn.execute(sa.select(front_members).where(front_members.c.run_id == run_id,
                                                       front_members.c.step == head["step"])
                        .order_by(front_members.c.member_step, front_members.c.member_idx)).mappings().all()
    made = {r["member_step"] for r in rows}
    cands = {(c["step"], c["idx"]): c for c in conn.execute(sa.select(
        candidates.c.step, candidates.c.idx, candidates.c["values"], candidates.c.reasoning, candidates.c.feedback,
        candidates.c.score).where(candidates.c.run_id == run_id, candidates.c.step.in_(made))).mappings()}
    before = {r[0] + 1: r[1] or {} for r in conn.execute(sa.select(steps.c.step, steps.c["values"]).where(
        steps.c.run_id == run_id, steps.c.step.in_([s - 1 for s in made])))}
    members = []
    for r in rows:
        c = cands.get((r["member_step"], r["member_idx"])) or {}
        own, base = c.get("values") or {}, before.get(r["member_step"], {})
        members.append({"step": r["member_step"], "candidate": r["member_idx"], "objectives": r["objectives"],
                        "values": {**base, **own}, "changed": {k: v for k, v in own.items() if r["member_step"] and base.get(k) != v},
                        "reasoning": c.get("reasoning") or "", "score": c.get("score"),
                        "metrics": (c.get("feedback") or {}).get("metrics") or {}})
    return {"step": head["step"], "hypervolume": head["hypervolume"], "reference": head["reference"],
            "worst": head["worst"], "members": members}
