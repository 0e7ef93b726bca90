"""The front of a multi-objective run in its report: how it grew step by step, and its hypervolume.

The fronts are recomputed from the stored candidates by the rule the run kept them by
(:mod:`agents._front`): each candidate's objective values are read from its feedback's
metrics, and after each step the front is the non-dominated feasible candidates evaluated
so far. The hypervolume after each step is measured against the reference point of that
rule (the declared one, else just past the worst values observed so far), so the numbers
are those ``tracetune show`` lists; the members' table is the stored last front.

Two objectives are drawn as a scatter (every candidate faint, the front highlighted, the
front after each step where it changed as a line from faint to dark); more objectives as
parallel coordinates (one axis per objective, better at the top). Plain SVG, every text
redacted and escaped, like the other charts of the report.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents._front import hypervolume_of, objectives_from_config, reference_for
from agents._report_svg import _e, _fmt, _Frame, _svg, ticks
from trace_core import Objectives, non_dominated

__all__ = ["FrontHistory", "front_history", "front_section", "run_objectives"]

log = logging.getLogger(__name__)

_PANELS = 12  # small charts of the front at a step: at most this many (spread over the steps where it changed)
_LINES = 40  # front lines on the main 2-D chart: the most recent changes
_FRONT, _FAINT, _BAD = "#2563eb", "#94a3b8", "#dc2626"


def _recorded(run: Mapping[str, Any]) -> tuple[Objectives, tuple[float, ...] | None] | None:
    """The objectives and declared reference point a run recorded in its config, or None."""
    try:
        return objectives_from_config(run.get("config"))
    except (KeyError, TypeError, ValueError):
        log.warning("run %s has objectives in its config that cannot be read", run.get("id"))
        return None


def run_objectives(run: Mapping[str, Any]) -> Objectives | None:
    """The objectives (and constraints) a multi-objective run recorded in its config; None for one objective."""
    found = _recorded(run)
    return None if found is None else found[0]


@dataclass(frozen=True)
class Point:
    """One evaluated candidate: its step and index, objective values, feasibility and parameter values."""

    step: int
    idx: int
    values: tuple[float, ...]
    feasible: bool
    params: Mapping[str, Any]


@dataclass(frozen=True)
class FrontHistory:
    """The candidates with objective values, and after each step the front and its hypervolume.

    ``fronts[step]`` indexes ``points``; ``changed`` lists the steps whose front differs from
    the step before; ``reference`` is the last step's reference point."""

    objectives: Objectives
    points: tuple[Point, ...]
    reference: tuple[float, ...] | None
    fronts: dict[int, tuple[int, ...]]
    hypervolumes: tuple[tuple[int, float], ...]
    changed: tuple[int, ...]

    @property
    def last(self) -> tuple[int, ...]:
        return self.fronts[max(self.fronts)] if self.fronts else ()


def _points(objectives: Objectives, candidates: Sequence[Mapping[str, Any]]) -> list[Point]:
    """The candidates that were evaluated without failing and hold every objective, in step order."""
    points = []
    for c in sorted(candidates, key=lambda c: (c["step"], c["idx"])):
        feedback = c.get("feedback") or {}
        metrics = feedback.get("metrics") or {}
        if c.get("status") not in (None, "done") or (feedback.get("details") or {}).get("failed") \
                or not isinstance(metrics, Mapping):
            continue
        clean = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        values = objectives.values(clean)
        if values is not None and all(math.isfinite(v) for v in values):
            points.append(Point(c["step"], c["idx"], values, objectives.feasible(clean), c.get("values") or {}))
    return points


def front_history(run: Mapping[str, Any], steps: Sequence[Mapping[str, Any]],
                  candidates: Sequence[Mapping[str, Any]]) -> FrontHistory | None:
    """The front after each step of a multi-objective run; None for one objective or no valued candidate."""
    found = _recorded(run)
    if found is None:
        return None
    objectives, declared = found
    points = _points(objectives, candidates)
    if not points:
        return None
    senses = objectives.senses
    fronts: dict[int, tuple[int, ...]] = {}
    hvs: list[tuple[int, float]] = []
    changed: list[int] = []
    front: tuple[int, ...] = ()
    worst: tuple[float, ...] | None = None
    reference: tuple[float, ...] | None = None
    seen = 0  # points are in step order: those before ``seen`` are counted
    for step in sorted({s["step"] for s in steps} | {p.step for p in points}):
        new = []
        while seen < len(points) and points[seen].step <= step:
            p = points[seen]
            if p.feasible:
                new.append(seen)
                worst = p.values if worst is None else tuple(
                    (min if sense == "maximize" else max)(w, v) for w, v, sense in zip(worst, p.values, senses))
            seen += 1
        if new:  # a dominated candidate never comes back: the new front is among the old front and the new ones
            pool = [*front, *new]
            kept = tuple(pool[i] for i in non_dominated([points[i].values for i in pool], senses))
            changed += [step] if kept != front else []
            front = kept
        fronts[step] = front
        if front:
            members = [points[i].values for i in front]
            reference = declared or reference_for([*members, *([worst] if worst else [])], senses)
            hvs.append((step, hypervolume_of(members, senses, reference)))
    return FrontHistory(objectives, tuple(points), reference, fronts, tuple(hvs), tuple(changed))


# -- drawing ------------------------------------------------------------------------------------------
class _Box:
    """Maps objective values to pixels in a box; ``flip`` puts larger values at the left (x) or bottom (y)."""

    def __init__(self, lo: float, hi: float, start: float, end: float):
        pad = (hi - lo) * 0.06 or abs(hi) * 0.06 or 1.0
        self.low, self.high = lo, hi  # the data's range; the box has a margin around it
        self.lo, self.hi, self.start, self.end = lo - pad, hi + pad, start, end

    def __call__(self, v: float) -> float:
        return self.start + (v - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def _tip(h: FrontHistory, p: Point) -> str:
    values = ", ".join(f"{n} {_fmt(v)}" for n, v in zip(h.objectives.names, p.values))
    return f"step {p.step} candidate {p.idx}: {values}" + ("" if p.feasible else " (infeasible)")


def scatter(h: FrontHistory, step: int, *, size: tuple[int, int] = (640, 320), lines: bool = True) -> str:
    """Two objectives: candidates evaluated by ``step`` (faint), the front then (highlighted),
    and with ``lines`` the front after each earlier step where it changed."""
    w, hgt = size
    left, right, top, bottom = 64, 16, 14, 34
    xs, ys = [p.values[0] for p in h.points], [p.values[1] for p in h.points]
    bx, by = _Box(min(xs), max(xs), left, w - right), _Box(min(ys), max(ys), hgt - bottom, top)
    (xname, yname), (sx, sy) = h.objectives.names, h.objectives.senses
    parts = [f'<line class="axis" x1="{left}" y1="{hgt - bottom}" x2="{w - right}" y2="{hgt - bottom}"/>',
             f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{hgt - bottom}"/>']
    for t in ticks(bx.lo, bx.hi):
        parts.append(f'<text class="tick" x="{bx(t):.1f}" y="{hgt - bottom + 16}" text-anchor="middle">{_fmt(t)}</text>')
    for t in ticks(by.lo, by.hi):
        parts.append(f'<line class="grid" x1="{left}" y1="{by(t):.1f}" x2="{w - right}" y2="{by(t):.1f}"/>'
                     f'<text class="tick" x="{left - 6}" y="{by(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    parts.append(f'<text class="label" x="{(left + w - right) / 2}" y="{hgt - 4}" text-anchor="middle">'
                 f'{_e(f"{xname} ({sx})")}</text><text class="label" x="14" y="{(top + hgt - bottom) / 2}" '
                 f'text-anchor="middle" transform="rotate(-90 14 {(top + hgt - bottom) / 2})">{_e(f"{yname} ({sy})")}</text>')
    earlier = [s for s in h.changed if s <= step][-_LINES:] if lines else [step]
    for k, s in enumerate(earlier):
        pts = sorted((h.points[i].values for i in h.fronts[s]), key=lambda v: v[0])
        if not pts:
            continue
        opacity = 0.15 + 0.85 * (k + 1) / len(earlier)
        d = " ".join(f"{'M' if j == 0 else 'L'}{bx(v[0]):.1f},{by(v[1]):.1f}" for j, v in enumerate(pts))
        hv = dict(h.hypervolumes).get(s)
        tip = f"front after step {s}: {len(pts)} candidate(s)" + (f", hypervolume {_fmt(hv)}" if hv is not None else "")
        parts.append(f'<path class="front-line mark" data-step="{s}" d="{d}" fill="none" stroke="{_FRONT}" '
                     f'stroke-width="1.5" stroke-opacity="{opacity:.2f}"><title>{_e(tip)}</title></path>')
    on_front = set(h.fronts.get(step, ()))
    for i, p in enumerate(h.points):
        if p.step > step:
            continue
        cls, fill, r = (("front-pt", _FRONT, 4.5) if i in on_front else ("dom-pt", _FAINT, 3.0))
        style = f'fill="{fill}" fill-opacity="{1.0 if i in on_front else 0.45}"' if p.feasible else \
            f'fill="none" stroke="{_BAD}" stroke-opacity="0.6"'
        parts.append(f'<circle class="{cls} mark" cx="{bx(p.values[0]):.1f}" cy="{by(p.values[1]):.1f}" r="{r}" '
                     f'{style} data-step="{p.step}" data-idx="{p.idx}"><title>{_e(_tip(h, p))}</title></circle>')
    return _svg("front", parts, f"front after step {step}", _Size(w, hgt))


def parallel(h: FrontHistory, step: int, *, size: tuple[int, int] = (640, 320)) -> str:
    """More than two objectives: one vertical axis per objective (better at the top), each
    candidate evaluated by ``step`` a line across them, the front highlighted."""
    w, hgt = size
    top, bottom, side = 30, 30, 60
    names, senses = h.objectives.names, h.objectives.senses
    gap = (w - 2 * side) / (len(names) - 1)
    boxes = []
    for j, sense in enumerate(senses):
        column = [p.values[j] for p in h.points]
        # better at the top: a maximized objective grows upwards, a minimized one downwards
        ends = (hgt - bottom, top) if sense == "maximize" else (top, hgt - bottom)
        boxes.append(_Box(min(column), max(column), *ends))
    parts = []
    for j, (name, sense) in enumerate(zip(names, senses)):
        x = side + j * gap
        lo, hi = boxes[j].low, boxes[j].high
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{hgt - bottom}"/>'
                     f'<text class="label" x="{x:.1f}" y="{top - 12}" text-anchor="middle">{_e(f"{name} ({sense})")}'
                     f'</text>')
        for v in (lo, hi):
            parts.append(f'<text class="tick" x="{x + 4:.1f}" y="{boxes[j](v) + 4:.1f}">{_fmt(v)}</text>')
    on_front = set(h.fronts.get(step, ()))
    order = sorted((i for i, p in enumerate(h.points) if p.step <= step), key=lambda i: i in on_front)
    for i in order:
        p = h.points[i]
        d = " ".join(f"{'M' if j == 0 else 'L'}{side + j * gap:.1f},{boxes[j](v):.1f}" for j, v in enumerate(p.values))
        front = i in on_front
        stroke = _FRONT if front else (_FAINT if p.feasible else _BAD)
        parts.append(f'<path class="{"front-pt" if front else "dom-pt"} mark" d="{d}" fill="none" stroke="{stroke}" '
                     f'stroke-width="{2 if front else 1}" stroke-opacity="{1.0 if front else 0.35}" '
                     f'data-step="{p.step}" data-idx="{p.idx}"><title>{_e(_tip(h, p))}</title></path>')
    return _svg("front", parts, f"front after step {step}", _Size(w, hgt))


@dataclass(frozen=True)
class _Size:
    w: int
    h: int


def hypervolume_chart(h: FrontHistory) -> str:
    """The front's hypervolume after each step, a line with a dot per step."""
    hvs = list(h.hypervolumes)
    frame = _Frame((min(s for s, _ in hvs), max(max(s for s, _ in hvs), 1)), [v for _, v in hvs], size=(640, 240))
    parts = frame.axes("step", "hypervolume of the front")
    d = " ".join(f"{'M' if k == 0 else 'L'}{frame.x(s):.1f},{frame.y(v):.1f}" for k, (s, v) in enumerate(hvs))
    parts.append(f'<path class="best mark" d="{d}" fill="none"><title>hypervolume per step</title></path>')
    for s, v in hvs:
        parts.append(f'<circle class="best-pt mark" cx="{frame.x(s):.1f}" cy="{frame.y(v):.1f}" r="2.5" '
                     f'data-step="{s}"><title>step {s}: hypervolume {_fmt(v)}</title></circle>')
    return _svg("hypervolume", parts, "hypervolume per step", frame)


def _params(values: Mapping[str, Any], limit: int = 300) -> str:
    text = ", ".join(f"{k}={' '.join(str(v).split())}" for k, v in values.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _panels(h: FrontHistory) -> list[int]:
    """The steps drawn as small charts: where the front changed, at most ``_PANELS``, first and last kept."""
    steps = list(h.changed)
    if len(steps) <= _PANELS:
        return steps
    last = len(steps) - 1
    return sorted({steps[round(k * last / (_PANELS - 1))] for k in range(_PANELS)})


def _table(h: FrontHistory, stored: Mapping[str, Any] | None) -> str:
    """The last front's members: the stored ones with what each changed, else the recomputed ones' values."""
    names = h.objectives.names
    head = "".join(f"<th>{_e(n)} ({_e(s)})</th>" for n, s in zip(names, h.objectives.senses))
    if stored and stored.get("members"):
        rows = "".join(f"<tr><td>{m['step']}</td><td>{m['candidate']}</td>"
                       + "".join(f"<td>{_fmt(v)}</td>" for v in m["objectives"])
                       + f"<td><code>{_e(_params(m.get('changed') or {}) or ('starting values' if not m['step'] else '—'))}"
                       "</code></td></tr>" for m in stored["members"])
        what = "what changed"
    else:
        rows = "".join(f"<tr><td>{p.step}</td><td>{p.idx}</td>" + "".join(f"<td>{_fmt(v)}</td>" for v in p.values)
                       + f"<td><code>{_e(_params(p.params))}</code></td></tr>" for p in (h.points[i] for i in h.last))
        what = "values"
    return f'<table class="steps front"><tr><th>step</th><th>candidate</th>{head}<th>{what}</th></tr>{rows}</table>'


def front_section(run: Mapping[str, Any], steps: Sequence[Mapping[str, Any]],
                  candidates: Sequence[Mapping[str, Any]], stored: Mapping[str, Any] | None = None) -> str:
    """The report's section on the front (HTML), or "" for a single-objective run; ``stored``
    is the run's last stored front (:meth:`RunStore.front`), whose members the table lists."""
    try:
        h = front_history(run, steps, candidates)
    except Exception as e:  # noqa: BLE001 - the front decorates a report; it must not sink it
        log.warning("could not compute the front of run %s", run.get("id"), exc_info=True)
        return f'<section id="front"><h2>Front</h2><p class="none">The front could not be computed: {_e(e)}</p></section>'
    if h is None:
        return ""
    names, senses = h.objectives.names, h.objectives.senses
    last = max(h.fronts)

    def draw(step: int, small: bool = False) -> str:
        if len(names) == 1:
            return ""
        size = (320, 220) if small else (640, 320)
        return scatter(h, step, size=size, lines=not small) if len(names) == 2 else parallel(h, step, size=size)

    hv = dict(h.hypervolumes).get(last)
    size = len(stored["members"]) if stored and stored.get("members") is not None else len(h.last)
    title = f"<h2>Front ({size} candidates, hypervolume {'—' if hv is None else f'{hv:.6g}'})</h2>"
    reference = "—" if h.reference is None else ", ".join(f"{n} {_fmt(v)}" for n, v in zip(names, h.reference))
    about = (f"<p>{len(h.last)} candidate(s) on the front after step {last}, of {len(h.points)} with objective "
             f"values; hypervolume {_fmt(hv) if hv is not None else '—'} against the reference point "
             f"({_e(reference)}). Objectives: {_e(', '.join(f'{s} {n}' for n, s in zip(names, senses)))}"
             + (f"; constraints: {_e('; '.join(str(c) for c in h.objectives.constraints))}" if h.objectives.constraints
                else "") + (". Faint: dominated; blue: on the front; red outline: infeasible." if len(names) > 1
                            else ".") + "</p>")
    main = f"<figure>{draw(last)}</figure>" if len(names) > 1 else ""
    if not h.hypervolumes:
        return (f'<section id="front">{title}{about}<p class="none">No feasible candidate yet, so there is '
                f"no front.</p>{main}</section>")
    small = "".join(f'<figure>{draw(s, small=True)}'
                    f'<figcaption>after step {s}: {len(h.fronts[s])} on the front</figcaption></figure>'
                    for s in _panels(h)) if len(names) > 1 else ""
    panels = f'<h3>The front at each step where it changed</h3><div class="charts">{small}</div>' if small else ""
    return (f'<section id="front">{title}{about}{main}'
            f'<h3>Hypervolume per step</h3><figure>{hypervolume_chart(h)}</figure>{panels}'
            f"<h3>On the front after step {last}</h3>{_table(h, stored)}</section>")
