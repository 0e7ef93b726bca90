"""Plain-text views for the chat tools: numbers, values, diffs, traces (what the model reads)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["num", "cut", "value", "diff", "feedback_line", "graph_summary", "MAX_TOOL_TEXT"]

#: the most characters a tool result sends back to the model
MAX_TOOL_TEXT = 12000


def num(x: Any) -> str:
    """A score or amount for reading: 6 significant digits, ``—`` for none."""
    if x is None:
        return "—"
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"… [{len(text) - limit} more characters]"


def value(v: Any, limit: int = 1500) -> str:
    """A parameter value: numbers and one-line text inline, longer text as an indented block."""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, str):
        if "\n" not in v and len(v) <= 120:
            return json.dumps(v, ensure_ascii=False)
        body = cut(v, limit).replace("\n", "\n    ")
        return f"(text, {len(v)} characters)\n    {body}"
    try:
        return cut(json.dumps(v, ensure_ascii=False, sort_keys=True, default=str), limit)
    except (TypeError, ValueError):
        return cut(repr(v), limit)


def diff(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 1500) -> list[str]:
    """``name: old → new`` lines for the parameters whose value differs."""
    lines = []
    for name, v in new.items():
        if name in old and old[name] == v:
            continue
        before = value(old.get(name), limit) if name in old else "(unknown)"
        after = value(v, limit)
        if "\n" in before or "\n" in after:
            lines.append(f"  {name}:\n    was {before}\n    now {after}")
        else:
            lines.append(f"  {name}: {before} → {after}")
    return lines or ["  (same values as now)"]


def feedback_line(fb: Mapping[str, Any] | None, limit: int = 400) -> str:
    """A stored feedback record in one line: score, metrics and text."""
    if not fb:
        return "no feedback"
    parts = [f"score {num(fb.get('score'))}"]
    metrics = fb.get("metrics") or {}
    if metrics:
        parts.append(", ".join(f"{k}={num(v)}" for k, v in list(metrics.items())[:8]))
    if (fb.get("details") or {}).get("failed"):
        parts.append("FAILED")
    text = " ".join(str(fb.get("text") or "").split())
    if text:
        parts.append(cut(text, limit))
    return "; ".join(parts)


def graph_summary(graph: Any, max_nodes: int = 15) -> list[str]:
    """The traced graph of a step as a few lines (parameters, ops and their values)."""
    if isinstance(graph, str):
        try:
            graph = json.loads(graph)
        except ValueError:
            return []
    if isinstance(graph, dict) and "graph" in graph:  # a graph traced after the step (see agents.report)
        graph = graph["graph"]
    if isinstance(graph, str):
        return graph_summary(graph, max_nodes)
    nodes = (graph or {}).get("nodes") if isinstance(graph, dict) else None
    if not nodes:
        return []
    lines = [f"trace: {len(nodes)} nodes, {len(graph.get('edges') or graph.get('links') or [])} edges"]
    for n in nodes[:max_nodes]:
        lines.append(f"  {n.get('kind', 'node')} {n.get('name')} = {cut(str(n.get('value')), 120)}")
    if len(nodes) > max_nodes:
        lines.append(f"  … {len(nodes) - max_nodes} more nodes")
    return lines
