"""backward: carry feedback from outputs to the parameters that made them.

One iterative pass, linear in the size of the graph: a topological sort from the
outputs, then a reverse sweep that ORs together, for every node, the set (a bit
mask) of outputs it reaches. Each parameter gets the feedback of the outputs it
reaches; its minimal subgraph (nodes on a path from it to an output) is computed
only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from trace_core.feedback import Feedback, as_feedback
from trace_core.node import Node

__all__ = ["backward", "Propagated", "Propagation", "subgraph", "topological"]


def topological(outputs: Iterable[Node]) -> list[Node]:
    """Every node that an output depends on, parents before children (iterative)."""
    state: dict[Node, bool] = {}  # False: entered, True: emitted
    order: list[Node] = []
    for root in outputs:
        if root in state:
            continue
        stack = [root]
        while stack:
            n = stack[-1]
            s = state.get(n)
            if s is None:
                state[n] = False
                for p in n.parents:
                    if p not in state:
                        stack.append(p)
            else:
                stack.pop()
                if s is False:
                    state[n] = True
                    order.append(n)
    return order


class _Graph:
    """The traced graph of one backward call, shared by its Propagated records."""

    __slots__ = ("order", "index", "_children")

    def __init__(self, order: list[Node]):
        self.order = order
        self.index = {n: i for i, n in enumerate(order)}
        self._children: list[list[int]] | None = None

    def children(self) -> list[list[int]]:
        if self._children is None:
            index = self.index
            children: list[list[int]] = [[] for _ in self.order]
            for i, n in enumerate(self.order):
                for p in n.parents:
                    children[index[p]].append(i)
            self._children = children
        return self._children

    def descendants(self, sources: Iterable[Node]) -> list[Node]:
        """Nodes reachable from ``sources`` (included), in topological order."""
        children = self.children()
        seen = bytearray(len(self.order))
        stack = [self.index[s] for s in sources]
        for i in stack:
            seen[i] = 1
        while stack:
            for c in children[stack.pop()]:
                if not seen[c]:
                    seen[c] = 1
                    stack.append(c)
        order = self.order
        return [order[i] for i in range(len(order)) if seen[i]]


class Propagated:
    """What reached one parameter: ``feedback`` (one item per output it affects) and
    ``nodes``, its minimal subgraph in topological order (computed on first use)."""

    __slots__ = ("parameter", "feedback", "_graph", "_nodes")

    def __init__(self, parameter: Node, feedback: list[Feedback], graph: _Graph):
        self.parameter, self.feedback, self._graph = parameter, feedback, graph
        self._nodes: list[Node] | None = None

    @property
    def nodes(self) -> list[Node]:
        if self._nodes is None:
            self._nodes = self._graph.descendants([self.parameter])
        return self._nodes

    def __repr__(self) -> str:
        return f"Propagated({self.parameter.name}, {len(self.feedback)} feedback)"


class Propagation(Mapping[Node, Propagated]):
    """The result of :func:`backward`: Parameter -> :class:`Propagated` (by identity),
    plus the outputs and their feedback."""

    def __init__(self, records: dict[Node, Propagated], graph: _Graph, outputs: list[Node], feedback: list[Feedback]):
        self._records, self.graph, self.outputs, self.feedback = records, graph, outputs, feedback

    def __getitem__(self, key: Node) -> Propagated:
        return self._records[key]

    def __iter__(self) -> Iterator[Node]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def by_name(self) -> dict[str, Propagated]:
        return {p.name: rec for p, rec in self._records.items()}


def backward(output: Any, feedback: Any = None) -> Propagation:
    """Propagate feedback from outputs to parameters.

    ``backward(output, feedback)`` or ``backward([(output, feedback), ...])`` for a
    minibatch. Feedback may be a :class:`Feedback`, a string or a number.

    Example:
        >>> from trace_core.node import Parameter, node
        >>> import trace_core.ops
        >>> a = Parameter(2, name="a")
        >>> y = a * node(3)
        >>> result = backward(y, "too big")
        >>> [f.text for f in result[a].feedback], [n.name for n in result[a].nodes]
        (['too big'], ['a', 'mul'])
    """
    pairs: Sequence[tuple[Any, Any]]
    if feedback is None and isinstance(output, (list, tuple)) and all(
        isinstance(x, tuple) and len(x) == 2 for x in output
    ):
        pairs = output
    else:
        pairs = [(output, feedback)]
    outputs = [o if isinstance(o, Node) else Node(o, "output") for o, _ in pairs]
    feedbacks = [as_feedback(f) for _, f in pairs]
    graph = _Graph(topological(outputs))
    index, order = graph.index, graph.order
    reach = [0] * len(order)
    for i, out in enumerate(outputs):
        reach[index[out]] |= 1 << i
    for i in range(len(order) - 1, -1, -1):
        r = reach[i]
        if r:
            for p in order[i].parents:
                reach[index[p]] |= r
    records: dict[Node, Propagated] = {}
    for i, n in enumerate(order):
        if n.trainable:
            r = reach[i]
            items = [feedbacks[j] for j in range(len(outputs)) if r >> j & 1]
            records[n] = Propagated(n, items, graph)
    return Propagation(records, graph, outputs, feedbacks)


def subgraph(result: Propagation) -> list[Node]:
    """The union of all parameters' minimal subgraphs, in linear time."""
    return result.graph.descendants(result.keys())
