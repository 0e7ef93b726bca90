"""Ops: the one interface renderers read, and the operator table.

Every recorded node points at an op with ``name``, ``description`` and
``source``. Table ops are :class:`Op` rows; bundles implement the same three
attributes. Operator behaviour is one table, one row per op; :func:`operators`,
the class decorator of ``Node``, builds Node's operator methods from it when the
class is defined.

Attribute reads and calls on a node run the way ``bundle`` runs a function:
untraced, with the parameters they read recorded as parents. A result that is a
Node gives its value to the new node and becomes one of its parents.
"""

from __future__ import annotations

import operator
import os
import traceback
from collections.abc import Callable
from typing import Any

from trace_core._state import _catching, _reads, _tracing
from trace_core.errors import BudgetExceeded, Pruned, TracedError

__all__ = ["Op", "OPS", "apply", "fail", "failures", "operators", "unwrap", "input_nodes", "split"]

# node.py imports this module: it hands over its classes through the decorators below
_Node: Any = None  # the Node class, given by ``operators``
_ExceptionNode: Any = None  # the ExceptionNode class, given by ``failures``


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


def fail(op: Any, parents: tuple[Any, ...], exc: BaseException, catch: bool = False,
         call_args: tuple[tuple, dict] | None = None) -> Any:
    """Record a failed op: return its ExceptionNode inside ``catching()``, else raise
    ``TracedError`` carrying it. Control-flow errors (a budget reached, a pruned
    evaluation) are not the workflow's failure: they propagate unchanged.
    ``call_args``: a bundle's arguments as called, for renderers."""
    if isinstance(exc, (BudgetExceeded, Pruned)):
        raise exc
    if isinstance(exc, TracedError):  # already recorded by an inner op
        if catch or _catching.get():
            return exc.exception_node
        raise exc
    enode = _ExceptionNode(
        exc,
        name="exception",
        description=f"{type(exc).__name__}: {exc}\n{_user_traceback(exc)}",
        parents=parents,
        op=op,
        call_args=call_args,
    )
    if catch or _catching.get():
        return enode
    raise TracedError(enode) from exc


# -- nodes inside containers ------------------------------------------------------------
def _flat(items: Any) -> bool:
    """True when no Node, list, tuple or dict is among ``items``: decided from the set of
    their types, built at C speed, so a long list of plain values is not walked in Python."""
    return not any(t is list or t is tuple or t is dict or issubclass(t, _Node) for t in set(map(type, items)))


def unwrap(value: Any) -> Any:
    """``value`` with every Node replaced by its value, also inside (nested) lists,
    tuples and dicts (keys too); a container without Nodes is returned as is."""
    if isinstance(value, _Node):
        return value.value
    kind = type(value)
    if kind is list or kind is tuple:
        if _flat(value):
            return value
        items = [unwrap(v) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else kind(items)
    if kind is dict:
        if _flat(value.values()) and _flat(value):
            return value
        plain = {_key(k): unwrap(v) for k, v in value.items()}
        same = all(a is b for a, b in zip(plain, value)) and all(a is b for a, b in zip(plain.values(), value.values()))
        return value if same and len(plain) == len(value) else plain
    return value


def _key(k: Any) -> Any:
    """A dict key unwrapped: a Node's value when that value can be a key."""
    if not isinstance(k, _Node):
        return k
    try:
        hash(k.value)
    except TypeError:
        return k
    return k.value


def _collect_nodes(value: Any, nodes: list[Any]) -> None:
    if isinstance(value, _Node):
        nodes.append(value)
    elif type(value) is list or type(value) is tuple:
        if not _flat(value):
            for v in value:
                _collect_nodes(v, nodes)
    elif type(value) is dict:
        if not _flat(value):  # nodes used as keys
            nodes.extend(k for k in value if isinstance(k, _Node))
        if not _flat(value.values()):
            for v in value.values():
                _collect_nodes(v, nodes)


def input_nodes(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """The Nodes among the arguments, also inside (nested) lists, tuples and dicts."""
    nodes: list[Any] = []
    for a in (*args, *kwargs.values()):
        _collect_nodes(a, nodes)
    return nodes


def split(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list[Any], tuple[Any, ...], dict[str, Any]]:
    """(the Nodes among the arguments, the arguments unwrapped, the keyword arguments
    unwrapped); containers are walked a second time only when they hold Nodes."""
    nodes = input_nodes(args, kwargs)
    if sum(isinstance(a, _Node) for a in (*args, *kwargs.values())) == len(nodes):
        return (nodes, tuple(a.value if isinstance(a, _Node) else a for a in args),
                {k: v.value if isinstance(v, _Node) else v for k, v in kwargs.items()})
    return nodes, tuple(unwrap(a) for a in args), unwrap(kwargs)


# -- running an op ----------------------------------------------------------------------
def _result(op: Op, out: Any, parents: tuple[Any, ...]) -> Any:
    """The node recording ``out``; a Node result gives its value and becomes a parent."""
    if isinstance(out, _Node):
        return _Node(out.value, op.name, "", (*parents, out), op)
    return _Node(out, op.name, "", parents, op)


def apply(op: Op, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Run ``fn`` on the plain values of ``args``; record a Node when tracing (plain
    arguments become constant nodes, so the recorded op reads completely)."""
    vals = [a.value if isinstance(a, _Node) else a for a in args]
    if not _tracing.get():
        return fn(*vals)
    parents = tuple(a if isinstance(a, _Node) else _Node(a, "const") for a in args)
    try:
        out = fn(*vals)
    except Exception as exc:  # an error is feedback: it becomes an ExceptionNode
        return fail(op, parents, exc)
    return _result(op, out, parents)


def _apply2(op: Op, fn: Callable[[Any, Any], Any], x: Any, y: Any) -> Any:
    """:func:`apply` for two operands, unrolled: binary operators are the hot path."""
    a = x.value if isinstance(x, _Node) else x
    b = y.value if isinstance(y, _Node) else y
    if not _tracing.get():
        return fn(a, b)
    if not isinstance(x, _Node):
        x = _Node(x, "const")
    if not isinstance(y, _Node):
        y = _Node(y, "const")
    try:
        out = fn(a, b)
    except Exception as exc:  # an error is feedback: it becomes an ExceptionNode
        return fail(op, (x, y), exc)
    if isinstance(out, _Node):
        return _Node(out.value, op.name, "", (x, y, out), op)
    return _Node(out, op.name, "", (x, y), op)


def _run_reading(fn: Callable[..., Any], args: tuple, kwargs: dict,
                 parents: tuple[Any, ...]) -> tuple[Any, BaseException | None, tuple[Any, ...]]:
    """Run ``fn`` untraced, recording the parameters it reads: (result, error, parents
    with those parameters added)."""
    reads: list[Any] = []
    t_trace, t_reads = _tracing.set(False), _reads.set(reads)
    error = out = None
    try:
        out = fn(*args, **kwargs)
    except Exception as exc:  # an error is feedback: the caller records it
        error = exc
    finally:  # also on KeyboardInterrupt: never leave tracing switched off
        _tracing.reset(t_trace)
        _reads.reset(t_reads)
    if reads:
        seen = {id(p) for p in parents}
        for p in reads:
            if id(p) not in seen:
                seen.add(id(p))
                parents = (*parents, p)
    return out, error, parents


def _getattr(self: Any, name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(name)
    value = self.value
    if not _tracing.get():
        return getattr(value, name)
    out, error, parents = _run_reading(getattr, (value, name), {}, (self, _Node(name, "const")))
    # A missing attribute is always an AttributeError (also inside catching()), so that
    # hasattr() and getattr(x, name, default) keep working on nodes.
    if isinstance(error, AttributeError):
        raise AttributeError(f"the value of node {self.name!r} has no attribute {name!r}: {error}") from error
    if error is not None:
        return fail(OPS["getattr"], parents, error)
    return _result(OPS["getattr"], out, parents)


def _call_method(self: Any, *args: Any, **kwargs: Any) -> Any:
    f = self.value
    if not _tracing.get():
        return f(*unwrap(args), **unwrap(kwargs))
    parents: list[Any] = [self]

    def plain(a: Any) -> Any:
        """``a`` unwrapped; its parents: a Node itself, the Nodes inside a container, else a constant."""
        if isinstance(a, _Node):
            parents.append(a)
            return a.value
        found: list[Any] = []
        _collect_nodes(a, found)
        parents.extend(found or [_Node(a, "const")])
        return unwrap(a) if found else a  # a container is walked twice only when it holds Nodes

    args = tuple(plain(a) for a in args)
    kwargs = {k: plain(v) for k, v in kwargs.items()}
    out, error, parents = _run_reading(f, args, kwargs, tuple(parents))
    if error is not None:
        return fail(OPS["call"], parents, error)
    return _result(OPS["call"], out, parents)


def _call(f: Any, args: tuple, kwargs: dict) -> Any:
    return f(*args, **kwargs)


def _identity(x: Any) -> Any:
    return x


# name, method, function, source, reflected method (binary ops only)
_UNARY = {"neg", "pos", "abs", "invert", "identity"}
_TABLE: list[tuple[str, str, Callable[..., Any], str, str | None]] = [
    ("add", "__add__", operator.add, "{0} + {1}", "__radd__"),
    ("sub", "__sub__", operator.sub, "{0} - {1}", "__rsub__"),
    ("mul", "__mul__", operator.mul, "{0} * {1}", "__rmul__"),
    ("truediv", "__truediv__", operator.truediv, "{0} / {1}", "__rtruediv__"),
    ("floordiv", "__floordiv__", operator.floordiv, "{0} // {1}", "__rfloordiv__"),
    ("mod", "__mod__", operator.mod, "{0} % {1}", "__rmod__"),
    ("pow", "__pow__", operator.pow, "{0} ** {1}", "__rpow__"),
    ("lshift", "__lshift__", operator.lshift, "{0} << {1}", "__rlshift__"),
    ("rshift", "__rshift__", operator.rshift, "{0} >> {1}", "__rrshift__"),
    ("and", "__and__", operator.and_, "{0} & {1}", "__rand__"),
    ("or", "__or__", operator.or_, "{0} | {1}", "__ror__"),
    ("xor", "__xor__", operator.xor, "{0} ^ {1}", "__rxor__"),
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
    ("invert", "__invert__", operator.invert, "~{0}", None),
    ("identity", "clone", _identity, "{0}", None),
    ("getattr", "__getattr__", getattr, "{0}.{1}", None),
    ("call", "__call__", _call, "{0}(*{1}, **{2})", None),
]

OPS: dict[str, Op] = {
    name: Op(name, f"Computes {source.format('x', 'y', 'z')}.", source, fn) for name, _, fn, source, _ in _TABLE
}
OPS["identity"].description = "A copy of x that keeps x as its parent (the same value)."


def _unary(op: Op) -> Callable[[Any], Any]:
    fn = op.fn

    def method(self: Any) -> Any:
        return apply(op, fn, (self,))

    method.__name__ = op.name
    return method


def _binary(op: Op, reflected: bool = False) -> Callable[[Any, Any], Any]:
    fn = op.fn
    if reflected:
        return lambda self, other: _apply2(op, fn, other, self)

    def method(self: Any, other: Any) -> Any:
        return _apply2(op, fn, self, other)

    return method


def failures(cls: type) -> type:
    """Class decorator of ``ExceptionNode``: the node :func:`fail` records."""
    global _ExceptionNode
    _ExceptionNode = cls
    return cls


def operators(cls: type) -> type:
    """Class decorator of ``Node``: one method per row of the operator table."""
    global _Node
    _Node = cls
    for name, method, _, _, reflected in _TABLE:
        op = OPS[name]
        if name == "getattr":
            cls.__getattr__ = _getattr  # type: ignore[attr-defined]
        elif name == "call":
            cls.__call__ = _call_method  # type: ignore[attr-defined]
        elif name in _UNARY:
            setattr(cls, method, _unary(op))
        else:
            setattr(cls, method, _binary(op))
            if reflected:
                setattr(cls, reflected, _binary(op, reflected=True))
    cls.__hash__ = object.__hash__  # defining __eq__ would otherwise drop it
    return cls
