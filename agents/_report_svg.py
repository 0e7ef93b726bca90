"""Inline SVG for reports: score and cost charts, and a traced graph in layers.

Everything is plain SVG text (no scripts, no fonts, no network); marks carry a
``mark`` class and a ``<title>`` so a browser shows a tooltip and a test can count them.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx

from trace_core.llm.redact import redact_text

__all__ = ["score_chart", "bar_chart", "graph_svg", "ticks"]

_W, _H = 640, 260
_L, _R, _T, _B = 64, 16, 14, 34


def _e(value: Any) -> str:
    """Text of the run (names, values, tooltips), redacted and escaped."""
    return html.escape(redact_text(str(value)), quote=True)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]``.

    Example:
        >>> ticks(0, 10)
        [0, 2, 4, 6, 8, 10]
    """
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


class _Frame:
    """Maps data to pixels and draws the axes of one chart."""

    def __init__(self, x_range: tuple[float, float], values: Sequence[float], *, zero: bool = False,
                 size: tuple[int, int] = (_W, _H)):
        self.w, self.h = size
        self.x0, self.x1 = x_range if x_range[1] > x_range[0] else (x_range[0], x_range[0] + 1)
        finite = [v for v in values if v is not None and math.isfinite(v)] or [0.0]
        lo, hi = min(finite), max(finite)
        # scores spanning orders of magnitude (a loss, a distance) read better on a log axis
        self.log = not zero and lo > 0 and hi / lo > 100
        if self.log:
            lo, hi = math.log10(lo), math.log10(hi)
        if zero:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi == lo:
            lo, hi = (lo - 1, hi + 1) if lo else (0.0, 1.0)
        pad = (hi - lo) * 0.06
        self.y0, self.y1 = (lo if zero and lo == 0 else lo - pad), hi + pad

    def x(self, v: float) -> float:
        return _L + (v - self.x0) / (self.x1 - self.x0) * (self.w - _L - _R)

    def y(self, v: float) -> float:
        return self._y(math.log10(v) if self.log else v)

    def _y(self, t: float) -> float:
        return self.h - _B - (t - self.y0) / (self.y1 - self.y0) * (self.h - _T - _B)

    def axes(self, x_label: str, y_label: str) -> list[str]:
        out = [f'<line class="axis" x1="{_L}" y1="{self.h - _B}" x2="{self.w - _R}" y2="{self.h - _B}"/>',
               f'<line class="axis" x1="{_L}" y1="{_T}" x2="{_L}" y2="{self.h - _B}"/>']
        for t in ticks(self.y0, self.y1) if not self.log else range(math.ceil(self.y0), math.floor(self.y1) + 1):
            y = self._y(t)
            out.append(f'<line class="grid" x1="{_L}" y1="{y:.1f}" x2="{self.w - _R}" y2="{y:.1f}"/>'
                       f'<text class="tick" x="{_L - 6}" y="{y + 4:.1f}" text-anchor="end">'
                       f'{_fmt(10.0 ** t if self.log else t)}</text>')
        step = max(1, math.ceil((self.x1 - self.x0) / 10))
        for t in range(math.ceil(self.x0), math.floor(self.x1) + 1, step):
            out.append(f'<text class="tick" x="{self.x(t):.1f}" y="{self.h - _B + 16}" text-anchor="middle">{t}</text>')
        y_label += " (log scale)" if self.log else ""
        out.append(f'<text class="label" x="{(_L + self.w - _R) / 2}" y="{self.h - 4}" text-anchor="middle">'
                   f'{_e(x_label)}</text><text class="label" x="14" y="{(_T + self.h - _B) / 2}" text-anchor="middle" '
                   f'transform="rotate(-90 14 {(_T + self.h - _B) / 2})">{_e(y_label)}</text>')
        return out


def _svg(kind: str, parts: Sequence[str], label: str, frame: _Frame) -> str:
    return (f'<svg class="plot" data-kind="{kind}" viewBox="0 0 {frame.w} {frame.h}" role="img" '
            f'aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>')


def score_chart(steps: Sequence[Mapping[str, Any]], candidates: Sequence[Mapping[str, Any]], direction: str) -> str:
    """The incumbent (best so far) per step as a step line, every candidate as a dot;
    failed candidates as crosses on the x axis."""
    best = [(s["step"], s["incumbent_score"]) for s in steps if s.get("incumbent_score") is not None]
    scored = [c for c in candidates if c.get("score") is not None]
    last = max([s["step"] for s in steps] or [0])
    frame = _Frame((0, max(last, 1)), [v for _, v in best] + [c["score"] for c in scored])
    parts = frame.axes("step", f"score ({direction})")
    if best:
        d = f"M{frame.x(best[0][0]):.1f},{frame.y(best[0][1]):.1f}"
        for step, value in best[1:]:
            d += f" H{frame.x(step):.1f} V{frame.y(value):.1f}"
        parts.append(f'<path class="best mark" d="{d}"><title>best so far</title></path>')
    for c in candidates:
        tip = f"step {c['step']} candidate {c['idx']}: {c.get('status')}"
        if c.get("score") is None:
            x, y = frame.x(c["step"]), frame.h - _B
            parts.append(f'<path class="cand failed mark" d="M{x - 4:.1f},{y - 4:.1f} l8,8 m0,-8 l-8,8" '
                         f'data-step="{c["step"]}" data-idx="{c["idx"]}"><title>{_e(tip)}</title></path>')
            continue
        cls = "cand mark" + (" start" if c["step"] == 0 else "")
        parts.append(f'<circle class="{cls}" cx="{frame.x(c["step"]):.1f}" cy="{frame.y(c["score"]):.1f}" r="4" '
                     f'data-step="{c["step"]}" data-idx="{c["idx"]}"><title>{_e(tip)} score {_fmt(c["score"])}'
                     f'</title></circle>')
    for step, value in best:
        parts.append(f'<circle class="best-pt mark" cx="{frame.x(step):.1f}" cy="{frame.y(value):.1f}" r="2.5">'
                     f'<title>step {step}: best so far {_fmt(value)}</title></circle>')
    return _svg("score", parts, "score per step", frame)


def bar_chart(kind: str, bars: Sequence[tuple[int, float, str]], y_label: str) -> str:
    """One bar per step: ``(step, value, tooltip)``."""
    last = max([b[0] for b in bars] or [1])
    frame = _Frame((-0.5, last + 0.5), [b[1] for b in bars], zero=True, size=(400, 240))
    width = max(2.0, (frame.x(1) - frame.x(0)) * 0.7)
    parts = frame.axes("step", y_label)
    if not any(b[1] for b in bars):
        middle = (_L + frame.w - _R) / 2
        parts.append(f'<text class="label" x="{middle}" y="{_T + 30}" text-anchor="middle">none</text>')
    for step, value, tip in bars:
        top, base = frame.y(max(value, 0.0)), frame.y(0.0)
        parts.append(f'<rect class="bar mark" x="{frame.x(step) - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
                     f'height="{max(base - top, 0.5):.1f}" data-step="{step}"><title>{_e(tip)}</title></rect>')
    return _svg(kind, parts, y_label, frame)


_NODE_W, _NODE_H, _GAP_X, _GAP_Y = 170, 44, 60, 18


def _layers(g: nx.DiGraph) -> dict[Any, tuple[int, int]]:
    """(layer, row) per node: topological generations, rows ordered by the mean row of
    the parents (a barycenter pass that removes most crossings in traces)."""
    pos: dict[Any, tuple[int, int]] = {}
    order = {n: i for i, n in enumerate(g.nodes)}
    for li, layer in enumerate(nx.topological_generations(g)):
        def key(n: Any) -> tuple[float, int]:
            rows = [pos[p][1] for p in g.predecessors(n)]
            return (sum(rows) / len(rows) if rows else -1.0, order[n])

        for row, n in enumerate(sorted(layer, key=key)):
            pos[n] = (li, row)
    return pos


def graph_svg(data: Mapping[str, Any] | str) -> tuple[str, int]:
    """The traced graph (networkx node-link JSON) drawn left to right; returns the SVG and its node count."""
    if isinstance(data, str):
        data = json.loads(data)
    g = nx.node_link_graph(dict(data), edges="edges", directed=True)
    pos = _layers(g)
    n_layers = max((p[0] for p in pos.values()), default=0) + 1
    n_rows = max((p[1] for p in pos.values()), default=0) + 1
    width = n_layers * (_NODE_W + _GAP_X) - _GAP_X + 20
    height = n_rows * (_NODE_H + _GAP_Y) - _GAP_Y + 20

    def xy(n: Any) -> tuple[float, float]:
        layer, row = pos[n]
        return 10 + layer * (_NODE_W + _GAP_X), 10 + row * (_NODE_H + _GAP_Y)

    parts = ['<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L8,4 L0,8 z"/></marker></defs>']
    for a, b, attrs in g.edges(data=True):
        (ax, ay), (bx, by) = xy(a), xy(b)
        x1, y1, x2, y2 = ax + _NODE_W, ay + _NODE_H / 2, bx, by + _NODE_H / 2
        mid = (x1 + x2) / 2
        count = attrs.get("count", 1)
        tip = f'{g.nodes[a].get("name")} → {g.nodes[b].get("name")}{f" (used {count}×)" if count > 1 else ""}'
        parts.append(f'<path class="edge" d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} '
                     f'{x2:.0f},{y2:.0f}" marker-end="url(#arrow)"><title>{_e(tip)}</title></path>')
    for n, attrs in g.nodes(data=True):
        x, y = xy(n)
        kind = attrs.get("kind", "op")
        name, value = str(attrs.get("name", n)), str(attrs.get("value", ""))
        label = name if attrs.get("op") in (None, name) else f"{name} · {attrs['op']}"
        tip = "\n".join(str(t) for t in (f"{name} ({kind})", attrs.get("description") or "", value) if t)
        parts.append(
            f'<g class="node {kind}" data-id="{_e(n)}" data-name="{_e(name)}" data-kind="{kind}" '
            f'data-value="{_e(value)}" data-description="{_e(attrs.get("description") or "")}" tabindex="0">'
            f'<rect x="{x}" y="{y}" width="{_NODE_W}" height="{_NODE_H}" rx="7"/>'
            f'<text class="name" x="{x + 8}" y="{y + 17}">{_e(_cut(label, 24))}</text>'
            f'<text class="value" x="{x + 8}" y="{y + 34}">{_e(_cut(value, 26))}</text>'
            f'<title>{_e(tip)}</title></g>')
    svg = (f'<svg class="graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="trace graph" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>')
    return svg, g.number_of_nodes()


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
