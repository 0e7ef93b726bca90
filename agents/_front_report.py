"""Fronts in reports and nightly checks: the HTML report's front section, the
regression check of a multi-objective run (it compares hypervolumes), and its warm
start (one member of the last front).

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
import html
from typing import Any

from agents._front import compare_points, contributions, objectives_from_config
from agents.store import RunStore
from trace_core.llm.redact import redact_text

__all__ = ["front_comparison", "warm_start_row", "front_html"]


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


def _e(value: Any) -> str:
    return html.escape(redact_text(str(value)), quote=True)


def _scatter(names: list[str], points: list[list[float]], on_front: list[bool], w: int = 480, h: int = 320) -> str:
    """Two objectives: every feasible candidate a dot, the front's members filled."""
    pad = 48
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    (x0, x1), (y0, y1) = (min(xs), max(xs) or 1.0), (min(ys), max(ys) or 1.0)
    sx = (w - 2 * pad) / ((x1 - x0) or 1.0)
    sy = (h - 2 * pad) / ((y1 - y0) or 1.0)
    marks = [f'<circle class="mark{" front" if front else ""}" cx="{pad + (x - x0) * sx:.1f}" '
             f'cy="{h - pad - (y - y0) * sy:.1f}" r="{4 if front else 2.5}" fill="{"#d62728" if front else "#999"}">'
             f"<title>{_e(names[0])} {x:.6g}, {_e(names[1])} {y:.6g}</title></circle>"
             for (x, y), front in zip(points, on_front)]
    axes = (f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#444"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#444"/>'
            f'<text x="{w / 2}" y="{h - 10}" text-anchor="middle">{_e(names[0])} ({x0:.4g} to {x1:.4g})</text>'
            f'<text x="14" y="{h / 2}" text-anchor="middle" transform="rotate(-90 14 {h / 2})">'
            f"{_e(names[1])} ({y0:.4g} to {y1:.4g})</text>")
    return (f'<svg class="plot" data-kind="front" viewBox="0 0 {w} {h}" role="img" aria-label="front" '
            f'xmlns="http://www.w3.org/2000/svg">{axes}{"".join(marks)}</svg>')


def front_html(rep: Any) -> str:
    """The report's section on a multi-objective run's last front ("" for one objective):
    a scatter of every feasible candidate with two objectives, and the members' table."""
    found = objectives_from_config(rep.run.get("config"))
    if found is None or rep.front is None:
        return ""
    objectives, _ = found
    names = list(objectives.names)
    members = rep.front["members"]
    plot = ""
    if len(names) == 2:
        keys = {(m["step"], m["candidate"]) for m in members}
        seen = [(c, objectives.values((c.get("feedback") or {}).get("metrics") or {})) for c in rep.candidates]
        seen = [(c, v) for c, v in seen if v is not None
                and objectives.feasible((c.get("feedback") or {}).get("metrics") or {})]
        if seen:
            plot = _scatter(names, [list(v) for _, v in seen], [(c["step"], c["idx"]) in keys for c, _ in seen])
    head = "".join(f"<th>{_e(n)} ({_e(s)})</th>" for n, s in zip(names, objectives.senses))
    rows = "".join(
        f"<tr><td>{m['step']}</td><td>{m['candidate']}</td>"
        + "".join(f"<td>{v:.6g}</td>" for v in m["objectives"])
        + f"<td>{_e(', '.join(f'{k}={v}' for k, v in m['changed'].items()) or ('starting values' if not m['step'] else ''))}"
        f"</td></tr>" for m in members)
    hv = rep.front["hypervolume"]
    return (f"<h2>Front ({len(members)} candidates, hypervolume {'—' if hv is None else f'{hv:.6g}'})</h2>{plot}"
            f'<table class="steps front"><tr><th>step</th><th>candidate</th>{head}<th>what changed</th></tr>'
            f"{rows}</table>")
