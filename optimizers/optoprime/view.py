"""The parameters' minimal subgraph as the sections of a short program.

Names are given in topological order (``add0``, ``mul1``; parameters and names
unique in the graph stay as they are; see :mod:`optimizers.optoprime.naming`), never
from ids or global counters, so one graph always reads the same. A bundle's call
keeps its keyword names and shows its plain arguments. A
:class:`Level` says how hard to shorten: cut values, collapse runs of similar ops
("… 980 more like this"), cut long argument lists, drop intermediate values and
middle lines. Parameters, outputs and feedback are always shown.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optimizers.optoprime.format import cut, format_feedback, format_parameters, format_value
from optimizers.optoprime.naming import Namer, literal, literal_value, shorten
from trace_core.backward import Propagation
from trace_core.feedback import Feedback
from trace_core.node import ExceptionNode, Node, Parameter
from trace_core.ops import Op, input_nodes
from trace_core.spaces import Code

__all__ = ["Level", "LEVELS", "GraphView"]

_MAX_PERIOD = 6  # the longest block of ops recognised as repeating


@dataclass(frozen=True)
class Level:
    """How hard to shorten: value lengths, when to collapse, how many arguments and
    lines to show."""

    value_chars: int
    output_chars: int
    feedback_chars: int
    min_repeats: int | None  # collapse a block repeated this many times (None: never)
    max_args: int
    intermediates: bool
    max_lines: int | None


LEVELS: tuple[Level, ...] = (
    Level(600, 3000, 8000, None, 64, True, None),
    Level(200, 1500, 6000, 8, 16, True, None),
    Level(80, 800, 4000, 4, 8, True, 400),
    Level(48, 600, 4000, 4, 8, True, 200),
    Level(32, 400, 3000, 4, 6, True, 120),
    Level(32, 400, 3000, 4, 6, False, 120),
    Level(24, 200, 2000, 4, 4, False, 30),
    # many outputs (a batch of examples): each output and its feedback shorter still, none dropped
    Level(24, 80, 400, 4, 4, False, 30),
    Level(16, 40, 160, 4, 4, False, 20),
    Level(16, 24, 80, 4, 4, False, 20),
)


def _collect(parameters: Sequence[Parameter], propagated: Mapping[Parameter, Any] | None
             ) -> tuple[list[Node], list[Node], list[Feedback], bool]:
    """The subgraph (topological), the outputs, the feedback, and whether feedback[i]
    belongs to outputs[i]."""
    if propagated is None or not len(propagated):
        return [], [], [], False
    result = Propagation.of(propagated)
    return result.subgraph(parameters), list(result.outputs), list(result.feedback), result.aligned


def _collapse(keys: Sequence[str], min_repeats: int | None) -> list[int | tuple[int, int]]:
    """Indices to show, with ``(hidden, period)`` markers where a block of ops repeats."""
    n = len(keys)
    if min_repeats is None:
        return list(range(n))
    min_repeats = max(min_repeats, 4)  # hide at least two blocks
    out: list[int | tuple[int, int]] = []
    i = 0
    while i < n:
        best_p = best_len = 0
        for p in range(1, _MAX_PERIOD + 1):
            if i + p * min_repeats > n:
                break
            j = i + p
            while j < n and keys[j] == keys[j - p]:
                j += 1
            reps = (j - i) // p
            if reps >= min_repeats and reps * p > best_len:
                best_p, best_len = p, reps * p
        if best_p:
            out.extend(range(i, i + best_p))
            out.append((best_len // best_p - 2, best_p))
            out.extend(range(i + best_len - best_p, i + best_len))
            i += best_len
        else:
            out.append(i)
            i += 1
    return out


class GraphView:
    """The minimal subgraph of ``parameters`` in ``propagated``, named and ready to render.

    Example:
        >>> from trace_core import backward, node
        >>> from trace_core.spaces import Float
        >>> x = Parameter(1.0, name="x", space=Float(0, 5))
        >>> y = (x + node(2.0)) * node(3.0)
        >>> print(GraphView([x], backward(y, "too small")).sections(LEVELS[0])["code"])
        add0 = x + 2.0
        mul1 = add0 * 3.0
    """

    def __init__(self, parameters: Sequence[Parameter], propagated: Any):
        self.parameters = list(parameters)
        nodes, outputs, feedback, aligned = _collect(self.parameters, propagated)
        inside = set(nodes)
        self.outputs = [o for o in outputs if o in inside]
        self.feedback = feedback
        self._output_feedback = dict(zip(outputs, feedback)) if aligned else {}
        taken = {p.name for p in self.parameters}
        mine = lambda n: n.trainable and n.name in taken  # noqa: E731
        names: dict[Node, str] = {}
        self.inputs: set[Node] = set()
        self.lines: list[Node] = []
        self.plain: dict[Node, list[tuple[str, Any]]] = {}  # a line's plain arguments shown as inputs
        self._calls: dict[Node, tuple[list[str], list[str]]] = {}
        self._signatures: dict[int, inspect.Signature | None] = {}
        named: dict[Node, None] = {}
        for n in nodes:
            if not mine(n):
                named[n] = None
                named.update((q, None) for q in n.parents if not mine(q) and (q in inside or literal(q) is None))
        namer = Namer(taken, named)
        for n in nodes:
            if mine(n):
                names[n] = n.name
                continue
            for q in n.parents:
                if q not in names:
                    if mine(q):
                        names[q] = q.name
                    elif q not in inside and (inline := literal(q)) is not None:
                        names[q] = inline
                    else:
                        names[q] = namer.fresh(q)
                        self.inputs.add(q)
            if n not in names:
                names[n] = namer.fresh(n)
            self.lines.append(n)
            if n.call_args is not None and not isinstance(n.op, Op):
                self._bind_call(n, names, namer)
        self.names = names
        self.keys = [f"{n.op.name if n.op is not None else n.name}/{len(n.parents)}" for n in self.lines]
        self._collapsed: dict[int | None, list[int | tuple[int, int]]] = {}

    # -- a bundle's call, with its keyword names and plain arguments ---------------------
    def _signature(self, op: Any) -> inspect.Signature | None:
        if id(op) not in self._signatures:
            try:
                self._signatures[id(op)] = inspect.signature(op.fn)
            except (AttributeError, TypeError, ValueError):
                self._signatures[id(op)] = None
        return self._signatures[id(op)]

    def _bind_call(self, n: Node, names: dict[Node, str], namer: Namer) -> None:
        """``self._calls[n]``: the arguments as written (``answer=solver0``); plain values
        inline when short, else named and listed under Inputs; parameters the function
        read without receiving them in a trailing comment."""
        sig = self._signature(n.op)
        args, kwargs = n.call_args
        try:
            bound = sig.bind(*args, **kwargs) if sig is not None else None
        except TypeError:
            bound = None
        if bound is None:
            return
        parts: list[str] = []
        plain: list[tuple[str, Any]] = []

        def text(value: Any, keyword: str) -> str:
            if isinstance(value, Node):
                return names.get(value) or names.setdefault(value, namer.fresh(value))
            if type(value) in (list, tuple, dict) and input_nodes((value,), {}):
                if type(value) is dict:
                    return "{" + ", ".join(f"{text(k, keyword) if isinstance(k, Node) else format_value(k)}: "
                                       f"{text(v, keyword)}" for k, v in value.items()) + "}"
                inner = ", ".join(text(v, keyword) for v in value)
                inner += "," if type(value) is tuple and len(value) == 1 else ""
                return f"[{inner}]" if type(value) is list else f"({inner})"
            shown = literal_value(value)
            if shown is None:
                shown = namer.fresh_name(keyword)
                plain.append((shown, value))
            return shown

        for i, (name, value) in enumerate(bound.arguments.items()):
            kind = sig.parameters[name].kind
            if i == 0 and name in ("self", "cls") and not isinstance(value, Node):
                continue
            if kind is inspect.Parameter.VAR_POSITIONAL:
                parts.extend(text(v, name) for v in value)
            elif kind is inspect.Parameter.VAR_KEYWORD:
                parts.extend(f"{k}={text(v, k)}" for k, v in value.items())
            elif kind is inspect.Parameter.POSITIONAL_ONLY:
                parts.append(text(value, name))
            else:
                parts.append(f"{name}={text(value, name)}")
        passed = set(input_nodes(args, kwargs))
        extra = [names[p] for p in n.parents if p not in passed and p in names and not _own_code(p, n.op)]
        self._calls[n] = (parts, extra)
        self.plain[n] = plain

    # -- pieces ---------------------------------------------------------------------
    def _args(self, parents: Sequence[Node], max_args: int) -> list[str]:
        return shorten([self.names[p] for p in parents], max_args)

    def expression(self, n: Node, max_args: int) -> str:
        """The right-hand side of ``n``'s line: ``x + 2.0`` or ``solve(problem)``."""
        op = n.op
        if isinstance(op, Op):
            args = self._args(n.parents, max_args)
            if op.name == "call":
                return f"{args[0]}({', '.join(args[1:])})"
            if op.name == "getattr" and len(n.parents) == 2 and isinstance(n.parents[1].value, str):
                return f"{args[0]}.{n.parents[1].value}"
            try:
                return op.source.format(*args)
            except (IndexError, KeyError, ValueError):
                return f"{op.name}({', '.join(args)})"
        name = getattr(op, "name", n.name)
        call = self._calls.get(n)
        if call is None:
            return f"{name}({', '.join(self._args([p for p in n.parents if not _own_code(p, op)], max_args))})"
        parts, extra = call
        return f"{name}({', '.join(shorten(parts, max_args))})" + (f"  # reads {', '.join(extra)}" if extra else "")

    def definition(self, op: Any, limit: int) -> str:
        own = next((p.name for p in self.parameters if _own_code(p, op)), None)
        about = str(getattr(op, "description", "")).strip()
        tag = f"[{op.name}]"
        about = about[len(tag):].lstrip() if about.startswith(tag) else about
        text = f"{tag} {cut(about, limit)}" if about else tag
        return text + (f"\n(its code is the variable {own})" if own else "")

    def _value(self, n: Node, limit: int) -> str:
        if isinstance(n, ExceptionNode):
            if self._in_feedback(n):  # the traceback is shown once, with the feedback
                return "raised " + cut(n.description.strip().splitlines()[0], limit)
            return "raised " + cut(n.description.strip(), limit * 3)
        return format_value(n.value, limit)

    def _in_feedback(self, n: ExceptionNode) -> bool:
        """True when some feedback already carries ``n``'s traceback."""
        tail = n.description.strip()[-200:]
        texts = [t for fb in self.feedback for t in (fb.text, *fb.details.values()) if isinstance(t, str)]
        return any(tail in t for t in texts)

    # -- sections -------------------------------------------------------------------
    def visible(self, level: Level) -> list[int | tuple[int, int]]:
        """The code lines shown at ``level``: line indices and ``(hidden, period)`` markers
        (period 0: lines left out)."""
        order = self._collapsed.get(level.min_repeats)
        if order is None:
            order = self._collapsed[level.min_repeats] = _collapse(self.keys, level.min_repeats)
        if level.max_lines is not None and len(order) > level.max_lines:
            half = level.max_lines // 2
            order = [*order[:half], (len(order) - 2 * half, 0), *order[-half:]]
        return order

    def sections(self, level: Level, order: list[int | tuple[int, int]] | None = None) -> dict[str, str]:
        """The program's sections at one shortening level (empty ones say so)."""
        if order is None:
            order = self.visible(level)
        code: list[str] = []
        shown: list[Node] = []
        for item in order:
            if isinstance(item, tuple):
                hidden, period = item
                if period == 0:
                    code.append(f"# … {hidden:,} lines left out")
                elif period == 1:
                    code.append(f"# … {hidden:,} more like this")
                else:
                    code.append(f"# … {hidden:,} more blocks like the {period} lines above")
                continue
            n = self.lines[item]
            shown.append(n)
            code.append(f"{self.names[n]} = {self.expression(n, level.max_args)}")
        ops: dict[int, Any] = {}
        used: dict[Node, None] = {}
        plain: list[tuple[str, Any]] = []
        for n in shown:
            if n.op is not None and not isinstance(n.op, Op):
                ops.setdefault(id(n.op), n.op)
            for q in n.parents:
                if q in self.inputs:
                    used[q] = None
            plain.extend(self.plain.get(n, ()))
        definitions = "\n".join(self.definition(op, max(200, level.value_chars)) for op in ops.values())
        outputs = set(self.outputs)
        limit = level.value_chars
        inputs = [f"{self.names[q]} = {self._value(q, limit)}" for q in used]
        inputs += [f"{name} = {format_value(value, limit)}" for name, value in plain]
        middle = [f"{self.names[n]} = {self._value(n, limit)}" for n in shown if n not in outputs]
        return {
            "code": "\n".join(code) or "(no traced operations between the variables and the outputs)",
            "definitions": definitions or "(none)",
            "inputs": "\n".join(inputs) or "(none)",
            "intermediates": ("\n".join(middle) or "(none)") if level.intermediates else "(left out to save space)",
            "outputs": "\n".join(f"{self.names[o]} = {self._value(o, level.output_chars)}" for o in self.outputs)
            or "(none)",
            "feedback": self._feedback(level.feedback_chars),
        }

    def _feedback(self, limit: int) -> str:
        if self._output_feedback and self.outputs:
            lines = [f"{self.names[o]}: {format_feedback(self._output_feedback[o], limit)}" for o in self.outputs]
        else:
            lines = [format_feedback(fb, limit) for fb in self.feedback]
        return "\n".join(lines) or "(no feedback yet)"

    def variables(self) -> str:
        """Every parameter with its space, description and whole value."""
        return format_parameters(self.parameters)


def _own_code(p: Node, op: Any) -> bool:
    """True when ``p`` is the Code parameter of the trainable bundle ``op``."""
    if not isinstance(p, Parameter):  # (getattr on a Node would record an op)
        return False
    return isinstance(p.space, Code) and p.space.name is not None and p.space.name == getattr(op, "name", None)
