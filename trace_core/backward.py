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

from trace_core.errors import ConfigError
from trace_core.feedback import Feedback, as_feedback
from trace_core.node import Node

__all__ = ["backward", "Propagated", "Propagation", "subgraph", "topological"]


def _sort(outputs: Iterable[Node]) -> tuple[list[Node], dict[Node, int]]:
    """Every node an output depends on, parents before children (iterative DFS), and
    each node's position in that order."""
    index: dict[Node, int] = {}  # -1 while a node's parents are being visited, then its position
    order: list[Node] = []
    for root in outputs:
        if root in index:
            continue
        stack = [root]
        while stack:
            n = stack[-1]
            i = index.get(n)
            if i is None:
                parents = n.parents
                if parents:
                    index[n] = -1
                    for p in reversed(parents):  # the first parent is visited (and emitted) first
                        if p not in index:
                            stack.append(p)
                    continue
                i = -1  # a leaf is emitted at once
            stack.pop()
            if i < 0:
                index[n] = len(order)
                order.append(n)
    return order, index


def topological(outputs: Iterable[Node]) -> list[Node]:
    """Every node that an output depends on, parents before children (iterative)."""
    return _sort(outputs)[0]


class _Graph:
    """The traced graph of one backward call, shared by its Propagated records."""

    __slots__ = ("order", "index", "_children")

    def __init__(self, order: list[Node], index: dict[Node, int]):
        self.order, self.index = order, index
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
    plus ``outputs`` and their ``feedback`` (``feedback[i]`` belongs to ``outputs[i]``)
    and :meth:`subgraph`, what an optimizer renders."""

    def __init__(self, records: dict[Node, Propagated], graph: _Graph, outputs: list[Node], feedback: list[Feedback],
                 aligned: bool = True):
        self._records, self.graph, self.outputs, self.feedback = records, graph, outputs, feedback
        self.aligned = aligned  # feedback[i] belongs to outputs[i]

    @classmethod
    def of(cls, records: Mapping[Node, Propagated]) -> Propagation:
        """``records`` as a Propagation (returned as is when it is one): a caller may pass
        a plain mapping of some parameters' records. The outputs are then the sinks of
        their subgraphs; the feedback is aligned with them only when both are one."""
        if isinstance(records, Propagation):
            return records
        union: dict[Node, None] = {}
        items: dict[int, Feedback] = {}
        for record in records.values():
            union.update(dict.fromkeys(record.nodes))
            for fb in record.feedback:
                items.setdefault(id(fb), fb)
        order, index = _sort(list(union))
        nodes = [n for n in order if n in union]
        parents = {q for n in nodes for q in n.parents}
        sinks = [n for n in nodes if n not in parents]
        feedback = list(items.values())
        return cls(dict(records), _Graph(order, index), sinks, feedback, len(sinks) == len(feedback) == 1)

    def __getitem__(self, key: Node) -> Propagated:
        return self._records[key]

    def __iter__(self) -> Iterator[Node]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def by_name(self) -> dict[str, Propagated]:
        return {p.name: rec for p, rec in self._records.items()}

    def reached(self, parameters: Iterable[Node]) -> list[Node]:
        """The traced parameters among ``parameters``: the same objects, or, for objects
        that were not traced (an optimizer rebuilt around restored parameters), the
        traced parameter of the same name."""
        wanted = list(parameters)
        mine = [p for p in wanted if p in self._records]
        if mine or not wanted:
            return mine
        named = {p.name: p for p in self._records}
        return [named[p.name] for p in wanted if p.name in named]

    def subgraph(self, parameters: Iterable[Node] | None = None) -> list[Node]:
        """The union of the minimal subgraphs of ``parameters`` (default: every parameter
        feedback reached), in topological order, in time linear in the graph."""
        sources = list(self._records) if parameters is None else self.reached(parameters)
        return self.graph.descendants(sources)


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
    elif isinstance(output, (list, tuple)) and any(isinstance(x, (Node, tuple)) for x in output):
        raise ConfigError(
            "backward takes backward(output, feedback) or backward([(output, feedback), ...]); got a "
            f"{type(output).__name__} of outputs{' and a feedback' if feedback is not None else ''}: "
            "pair each output with its feedback"
        )
    else:
        pairs = [(output, feedback)]
    outputs = [o if isinstance(o, Node) else Node(o, "output") for o, _ in pairs]
    feedbacks = [as_feedback(f) for _, f in pairs]
    order, index = _sort(outputs)
    graph = _Graph(order, index)
    records: dict[Node, Propagated] = {}
    if len(outputs) == 1:  # every node of the graph reaches the one output
        for n in order:
            if n.trainable:
                records[n] = Propagated(n, list(feedbacks), graph)
        return Propagation(records, graph, outputs, feedbacks)
    reach = [0] * len(order)
    for i, out in enumerate(outputs):
        reach[index[out]] |= 1 << i
    for i in range(len(order) - 1, -1, -1):
        r = reach[i]
        if r:
            for p in order[i].parents:
                reach[index[p]] |= r
    for i, n in enumerate(order):
        if n.trainable:
            r, items = reach[i], []
            while r:  # the set bits only: linear in what reached this parameter
                low = r & -r
                items.append(feedbacks[low.bit_length() - 1])
                r ^= low
            records[n] = Propagated(n, items, graph)
    return Propagation(records, graph, outputs, feedbacks)


def subgraph(result: Propagation) -> list[Node]:
    """The union of all parameters' minimal subgraphs, in linear time
    (:meth:`Propagation.subgraph` for some parameters only)."""
    return result.subgraph()
