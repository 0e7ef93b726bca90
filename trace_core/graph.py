"""Export a traced graph to networkx, DOT and JSON (for reports and tests)."""

from __future__ import annotations

import json
from typing import Any

import networkx as nx

from trace_core.backward import topological
from trace_core.node import ExceptionNode, Node

__all__ = ["to_networkx", "to_dot", "to_json", "node_link", "short"]


def short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _outputs(output: Node | list[Node]) -> list[Node]:
    return list(output) if isinstance(output, (list, tuple)) else [output]


def _kind(n: Node) -> str:
    if isinstance(n, ExceptionNode):
        return "exception"
    if n.trainable:
        return "parameter"
    return "op" if n.op is not None else "input"


def to_networkx(output: Node | list[Node], value_chars: int = 1000) -> nx.DiGraph:
    """A DiGraph with one vertex per node (``n0``, ``n1`` … in topological order) and
    an edge parent -> child per use (``count`` when a parent is used twice)."""
    order = topological(_outputs(output))
    ids = {n: f"n{i}" for i, n in enumerate(order)}
    g = nx.DiGraph()
    for n in order:
        g.add_node(ids[n], name=n.name, kind=_kind(n), op=getattr(n.op, "name", None),
                   value=short(n.value, value_chars), description=short(n.description, 200))
    for n in order:
        for p in n.parents:
            if g.has_edge(ids[p], ids[n]):
                g.edges[ids[p], ids[n]]["count"] += 1
            else:
                g.add_edge(ids[p], ids[n], count=1)
    return g


def node_link(g: nx.DiGraph) -> dict[str, Any]:
    """A graph made by :func:`to_networkx` as node-link data (what :func:`to_json` writes)."""
    return nx.node_link_data(g, edges="edges")


def to_json(output: Node | list[Node], value_chars: int = 1000) -> str:
    """Nodes and edges as JSON (``networkx`` node-link format)."""
    return json.dumps(node_link(to_networkx(output, value_chars)), sort_keys=True)


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_SHAPES = {"parameter": "box", "exception": "octagon", "op": "ellipse", "input": "plaintext"}


def to_dot(output: Node | list[Node], value_chars: int = 40) -> str:
    """Graphviz DOT text."""
    g = to_networkx(output, value_chars)
    lines = ["digraph trace {", "  rankdir=LR;"]
    for vid, data in g.nodes(data=True):
        label = f"{_dot_escape(data['name'])}\\n{_dot_escape(data['value'])}"
        lines.append(f'  {vid} [label="{label}", shape={_SHAPES[data["kind"]]}];')
    for a, b in g.edges():
        lines.append(f"  {a} -> {b};")
    lines.append("}")
    return "\n".join(lines)
