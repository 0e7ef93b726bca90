"""Ops: the one interface renderers read, and the operator table.

Every recorded node points at an op with ``name``, ``description`` and
``source``. Table ops are :class:`Op` rows; bundles implement the same three
attributes. Operator behaviour is one table, one row per op.
"""

from __future__ import annotations

import operator
import os
import traceback
from collections.abc import Callable
from typing import Any

from trace_core.errors import BudgetExceeded, Pruned, TracedError
from trace_core.node import ExceptionNode, Node, _catching, _tracing

__all__ = ["Op", "OPS", "apply", "fail"]


class Op:
    """A table operator: ``name``, ``description`` (what it does) and ``source``
    (how it reads as code, with ``{0}``, ``{1}`` for the inputs)."""

    __slots__ = ("name", "description", "source", "fn")

    def __init__(self, name: str, description: str, source: str, fn: Callable[..., Any]):
        self.name, self.description, self.source, self.fn = name, description, source, fn

    def __repr__(self) -> str:
        return f"Op({self.name})"


_INTERNAL = {os.path.join(os.path.dirname(os.path.abspath(__file__)), name) for name in ("ops.py", "bundle.py")}


def _user_traceback(exc: BaseException, limit: int = 8) -> str:
    """The last ``limit`` frames of the traceback that are user code (not tracetune's op machinery)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) not in _INTERNAL]
    if not frames:  # a table operator failed: its own frame is all there is
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-2))
    return "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames[-limit:]))


def fail(op: Any, parents: tuple[Node, ...], exc: BaseException, catch: bool = False) -> ExceptionNode:
    """Record a failed op: return its ExceptionNode inside ``catching()``, else raise
    ``TracedError`` carrying it. Control-flow errors (a budget reached, a pruned
    evaluation) are not the workflow's failure: they propagate unchanged."""
    if isinstance(exc, (BudgetExceeded, Pruned)):
        raise exc
    if isinstance(exc, TracedError):  # already recorded by an inner op
        if catch or _catching.get():
            return exc.exception_node
        raise exc
    enode = ExceptionNode(
        exc,
        name="exception",
        description=f"{type(exc).__name__}: {exc}\n{_user_traceback(exc)}",
        parents=parents,
        op=op,
    )
    if catch or _catching.get():
        return enode
    raise TracedError(enode) from exc


def apply(op: Any, fn: Callable[..., Any], args: tuple[Any, ...], wrap: bool = True) -> Any:
    """Run ``fn`` on the plain values of ``args``; record a Node when tracing.

    With ``wrap`` (table operators), plain arguments become constant nodes so the
    recorded op reads completely; otherwise only Node arguments are parents.
    """
    vals = [a.value if isinstance(a, Node) else a for a in args]
    if not _tracing.get():
        return fn(*vals)
    if wrap:
        parents = tuple(a if isinstance(a, Node) else Node(a, "const") for a in args)
    else:
        parents = tuple(a for a in args if isinstance(a, Node))
    try:
        out = fn(*vals)
    except Exception as exc:  # an error is feedback: it becomes an ExceptionNode
        return fail(op, parents, exc)
    return Node(out, parents=parents, op=op)


def _call(f: Any, args: tuple, kwargs: dict) -> Any:
    return f(*args, **kwargs)


# name, dunder, function, source, reflected dunder
_TABLE: list[tuple[str, str, Callable[..., Any], str, str | None]] = [
    ("add", "__add__", operator.add, "{0} + {1}", "__radd__"),
    ("sub", "__sub__", operator.sub, "{0} - {1}", "__rsub__"),
    ("mul", "__mul__", operator.mul, "{0} * {1}", "__rmul__"),
    ("truediv", "__truediv__", operator.truediv, "{0} / {1}", "__rtruediv__"),
    ("floordiv", "__floordiv__", operator.floordiv, "{0} // {1}", "__rfloordiv__"),
    ("mod", "__mod__", operator.mod, "{0} % {1}", "__rmod__"),
    ("pow", "__pow__", operator.pow, "{0} ** {1}", "__rpow__"),
    ("eq", "__eq__", operator.eq, "{0} == {1}", None),
    ("ne", "__ne__", operator.ne, "{0} != {1}", None),
    ("lt", "__lt__", operator.lt, "{0} < {1}", None),
    ("le", "__le__", operator.le, "{0} <= {1}", None),
    ("gt", "__gt__", operator.gt, "{0} > {1}", None),
    ("ge", "__ge__", operator.ge, "{0} >= {1}", None),
    ("getitem", "__getitem__", operator.getitem, "{0}[{1}]", None),
    ("neg", "__neg__", operator.neg, "-{0}", None),
    ("pos", "__pos__", operator.pos, "+{0}", None),
    ("abs", "__abs__", operator.abs, "abs({0})", None),
    ("getattr", "__getattr__", getattr, "{0}.{1}", None),
    ("call", "__call__", _call, "{0}(*{1}, **{2})", None),
]

OPS: dict[str, Op] = {
    name: Op(name, f"Computes {source.format('x', 'y', 'z')}.", source, fn) for name, _, fn, source, _ in _TABLE
}


def _unary(op: Op) -> Callable[[Node], Any]:
    fn = op.fn

    def method(self: Node) -> Any:
        return apply(op, fn, (self,))

    return method


def _apply2(op: Op, fn: Callable[[Any, Any], Any], x: Any, y: Any) -> Any:
    """:func:`apply` for two operands, unrolled: binary operators are the hot path."""
    a = x.value if isinstance(x, Node) else x
    b = y.value if isinstance(y, Node) else y
    if not _tracing.get():
        return fn(a, b)
    if not isinstance(x, Node):
        x = Node(x, "const")
    if not isinstance(y, Node):
        y = Node(y, "const")
    try:
        out = fn(a, b)
    except Exception as exc:  # an error is feedback: it becomes an ExceptionNode
        return fail(op, (x, y), exc)
    return Node(out, op.name, "", (x, y), op)


def _binary(op: Op, reflected: bool = False) -> Callable[[Node, Any], Any]:
    fn = op.fn
    if reflected:
        return lambda self, other: _apply2(op, fn, other, self)

    def method(self: Node, other: Any) -> Any:
        return _apply2(op, fn, self, other)

    return method


def _getattr(self: Node, name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(name)
    # A missing attribute is always an AttributeError (also inside catching()), so that
    # hasattr() and getattr(x, name, default) keep working on nodes.
    try:
        out = apply(OPS["getattr"], getattr, (self, name))
    except AttributeError:  # untraced
        raise
    except TracedError as e:
        if isinstance(e.exception_node.value, AttributeError):
            raise AttributeError(f"the value of node {self.name!r} has no attribute {name!r}: {e}") from e
        raise
    if isinstance(out, ExceptionNode) and isinstance(out.value, AttributeError):  # inside catching()
        raise AttributeError(f"the value of node {self.name!r} has no attribute {name!r}: {out.value}")
    return out


def _call_method(self: Node, *args: Any, **kwargs: Any) -> Any:
    # Nodes among the arguments become parents too.
    flat = (self, *args, *kwargs.values())
    keys = list(kwargs)
    n = len(args)

    def run(f: Any, *vals: Any) -> Any:
        return f(*vals[:n], **dict(zip(keys, vals[n:])))

    return apply(OPS["call"], run, flat)


for _name, _dunder, _fn, _source, _rdunder in _TABLE:
    _op = OPS[_name]
    if _name in ("neg", "pos", "abs"):
        setattr(Node, _dunder, _unary(_op))
    elif _name == "getattr":
        Node.__getattr__ = _getattr  # type: ignore[attr-defined]
    elif _name == "call":
        Node.__call__ = _call_method  # type: ignore[attr-defined]
    else:
        setattr(Node, _dunder, _binary(_op))
        if _rdunder:
            setattr(Node, _rdunder, _binary(_op, reflected=True))
Node.__hash__ = object.__hash__  # defining __eq__ would otherwise drop it
