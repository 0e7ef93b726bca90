"""Nodes and parameters: values that remember how they were made.

A :class:`Node` holds a value, its parents and the op that made it. Nodes are
hashed by identity and held only by their children: there is no global registry,
so a graph lives exactly as long as its outputs are referenced.

Tracing state (on/off, catching, value overrides) lives in ``contextvars``, so
threads and asyncio tasks each trace their own graphs.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
from collections.abc import Iterator, Mapping
from typing import Any

from trace_core._state import _catching, _overrides, _reads, _tracing
from trace_core.ops import failures, operators, unwrap
from trace_core.spaces import Any_, Space

__all__ = [
    "Node",
    "Parameter",
    "ExceptionNode",
    "node",
    "no_trace",
    "catching",
    "using",
    "is_tracing",
]



def is_tracing() -> bool:
    """True unless inside :func:`no_trace` (or inside a non-traceable bundle)."""
    return _tracing.get()


@operators
class Node:
    """A value plus how it was made.

    Operators on nodes (``+ - * / // % ** << >> & | ^ ~ == < [] .attr call``, built
    from the table in :mod:`trace_core.ops`) record new nodes; ``clone()`` records a
    copy that keeps this node as its parent. ``bool(node)``, ``str(node)``,
    ``format(node, spec)`` (f-strings), ``len(node)`` and ``x in node`` use the value
    and return plain values, as Python requires.

    Example:
        >>> x = node(3, name="x")
        >>> y = x * x + 1
        >>> y.value, [p.value for p in y.parents]
        (10, [9, 1])
    """

    # ``call_args``: a bundle's (args, kwargs) as called, Nodes and plain values, for renderers
    __slots__ = ("_value", "name", "description", "parents", "op", "call_args", "__weakref__")
    trainable = False
    __array_ufunc__ = None  # ``array + node`` defers to the node's operator (one traced op, not an array of nodes)

    def __init__(
        self,
        value: Any,
        name: str | None = None,
        description: str = "",
        parents: tuple[Node, ...] = (),
        op: Any = None,
        call_args: tuple[tuple, dict] | None = None,
    ):
        self._value = value
        self.name = name if name is not None else (op.name if op is not None else "node")
        self.description = description
        self.parents = parents
        self.op = op
        self.call_args = call_args

    @property
    def value(self) -> Any:
        return self._value

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return bool(self.value)

    # Untraced, like bool(): inside a bundle, f"{self.prompt}" must read the value.
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __repr__(self) -> str:
        text = repr(self.value)
        if len(text) > 60:
            text = text[:57] + "..."
        return f"{type(self).__name__}({self.name}={text})"

    def __iter__(self):
        raise TypeError(
            "a traced Node is not iterable; index it (node[i]) or use node.value for the plain value"
        )

    # Plain results, as Python requires; a Parameter's read is still recorded inside a bundle.
    def __len__(self) -> int:
        return len(self.value)

    def __contains__(self, item: Any) -> bool:
        return unwrap(item) in self.value

    def __deepcopy__(self, memo: dict[int, Any]) -> Node:
        """A detached copy (as in Trace): the value deep-copied, no parents, no op;
        the graph upstream is not copied. A Parameter keeps its name and space."""
        new = copy.copy(self)
        memo[id(self)] = new
        new._value = copy.deepcopy(self._value, memo)
        new.parents, new.op = (), None
        return new


class Parameter(Node):
    """A trainable node with a space that checks every new value.

    Inside :func:`using`, ``.value`` returns the value mapped to this parameter's
    name, so candidates are evaluated without touching the live value.

    Example:
        >>> from trace_core.spaces import Float
        >>> lr = Parameter(0.1, name="lr", space=Float(1e-4, 1.0, log=True))
        >>> lr.set("0.01"); lr.value
        0.01
    """

    __slots__ = ("space",)
    trainable = True

    def __init__(self, value: Any, name: str | None = None, space: Space | None = None, description: str = ""):
        value = value.value if isinstance(value, Node) else value  # as in Trace: the Node's value, not the Node
        self.space = space if space is not None else Any_()
        super().__init__(self.space.validate(value), name=name or "param", description=description)

    @property
    def value(self) -> Any:
        reads = _reads.get()
        if reads is not None:
            reads.append(self)
        overrides = _overrides.get()
        if overrides is not None and self.name in overrides:
            return overrides[self.name]
        return self._value

    def set(self, value: Any) -> None:
        """Validate ``value`` through the space and assign it (raises ``InvalidProposal``)."""
        self.write(self.space.validate(value))

    def write(self, value: Any) -> None:
        """Assign a value that already passed this parameter's space (trusted: not checked
        again). The one place a parameter's value changes; optimizers apply validated
        updates, modules load validated states and resumed runs restore decoded values
        through it."""
        self._value = value


@failures
class ExceptionNode(Node):
    """The output of an op that raised: ``.value`` is the exception; ``.description``
    holds the type, message and traceback of the user code."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False


def node(value: Any, name: str | None = None, description: str = "") -> Node:
    """Wrap a constant as a Node (a Node is returned unchanged)."""
    if isinstance(value, Node):
        return value
    return Node(value, name=name or "const", description=description)


@contextlib.contextmanager
def _set(var: contextvars.ContextVar, value: Any) -> Iterator[None]:
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def no_trace() -> contextlib.AbstractContextManager[None]:
    """Inside this context ops run plain and return plain values."""
    return _set(_tracing, False)


def catching() -> contextlib.AbstractContextManager[None]:
    """Inside this context a failing op returns its ExceptionNode instead of raising."""
    return _set(_catching, True)


def using(values: Mapping[str, Any]) -> contextlib.AbstractContextManager[None]:
    """Evaluate with these parameter values (name -> value) without assigning them.

    Nested contexts merge, inner values winning.

    Example:
        >>> p = Parameter(1, name="p")
        >>> with using({"p": 2}):
        ...     p.value
        2
        >>> p.value
        1
    """
    outer = _overrides.get()
    merged = dict(outer) if outer else {}
    merged.update(values)
    return _set(_overrides, merged)
