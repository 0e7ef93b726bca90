"""How OptoPrime names what it shows: nodes, plain arguments and short constants.

A user's name stays alone when it is unique in the graph; other names get a counter
in topological order (``mul1``; ``k0_3`` after a separator when the name is a user's
or ends in a digit), so one graph always reads the same and no two names run together.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from optimizers.optoprime.format import format_value
from trace_core.node import Node

__all__ = ["Namer", "literal", "literal_value", "shorten"]

_NOT_IDENT = re.compile(r"\W")
_INLINE_CHARS = 24  # constants this short are written inline instead of named


class Namer:
    """Fresh names for one graph; never a name in ``taken`` (the parameters')."""

    def __init__(self, taken: set[str], nodes: Iterable[Node]):
        self.used = set(taken)
        self.counter = 0
        self.clean: dict[str, str] = {}
        self.counts = Counter(n.name for n in nodes if _user_named(n))

    def fresh(self, n: Node) -> str:
        base = self.clean.get(n.name)
        if base is None:
            base = _NOT_IDENT.sub("_", n.name) or "node"
            base = self.clean[n.name] = base if not base[0].isdigit() else "n" + base
        if _user_named(n) and self.counts[n.name] == 1 and base not in self.used:
            self.used.add(base)
            return base
        return self.fresh_name(base, separator=_user_named(n))

    def fresh_name(self, base: str, separator: bool = True) -> str:
        sep = "_" if separator or base[-1].isdigit() else ""
        name = f"{base}{sep}{self.counter}"
        self.counter += 1
        while name in self.used:
            name += "_"
        self.used.add(name)
        return name


def _user_named(n: Node) -> bool:
    """True when ``n``'s name was given by the user (not an op's name or a default)."""
    return n.op is None and n.name not in ("const", "node", "param")


def shorten(items: list[str], max_args: int) -> list[str]:
    """At most about ``max_args`` items: the first ones, a count of those left out, the last."""
    if len(items) <= max_args:
        return items
    return [*items[: max_args - 1], f"…{len(items) - max_args:,} more…", items[-1]]


def literal(n: Node) -> str | None:
    """A short constant written inline, or None."""
    if n.op is not None or n.parents or n.name != "const" or type(n) is not Node:
        return None
    return literal_value(n.value)


def literal_value(v: Any) -> str | None:
    """A short plain value as written inline, or None."""
    if v is None or isinstance(v, (bool, int, float)):
        text = repr(v)
    elif isinstance(v, slice) and all(isinstance(x, (int, type(None))) for x in (v.start, v.stop, v.step)):
        text = ":".join("" if x is None else str(x) for x in (v.start, v.stop, *(() if v.step is None else (v.step,))))
    elif isinstance(v, str) and "\n" not in v:
        text = format_value(v)
    else:
        return None
    return text if len(text) <= _INLINE_CHARS else None

