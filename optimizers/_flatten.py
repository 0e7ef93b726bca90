"""Spaces as trees of Optuna distributions: sample, mutate and flatten structured values.

A parameter's space becomes a *spec*: a :class:`Leaf` (one distribution), a :class:`Group`
(a pydantic model's fields), a :class:`Seq` (a fixed-length list or tuple), a :class:`VarSeq`
(a list with ``max_length``: a length dimension plus one dimension per item) or
:class:`Fixed` (kept as it is: text, code, unbounded numbers, unions, dicts).
Keys are dotted paths: ``arch.widths.0``, ``arch.widths.len``.

``sample(spec, key, current, draw)`` builds a value leaf by leaf through ``draw(key,
distribution, current_leaf)``: Search draws from an Optuna trial, Evolution mutates the
current leaf. ``flatten(spec, key, value)`` gives the ``{key: (leaf, distribution)}``
of a value, to add a value Optuna never proposed as a finished trial.

Example:
    >>> from typing import Literal
    >>> from pydantic import BaseModel, Field
    >>> from trace_core.spaces import Json
    >>> class Net(BaseModel):
    ...     depth: int = Field(2, ge=1, le=4)
    ...     act: Literal["relu", "tanh"] = "relu"
    >>> sorted(flatten(spec_of(Json(Net)), "net", Net()))
    ['net.act', 'net.depth']
"""

from __future__ import annotations

import enum
import json
import math
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Union

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from trace_core.spaces import Choice, Float, Int, Json, Space

__all__ = ["Leaf", "Group", "Seq", "VarSeq", "Fixed", "Spec", "spec_of", "sample", "flatten", "dimensions",
           "fixed_parts"]


@dataclass(frozen=True)
class Leaf:
    """One searched value and its distribution. With ``options`` (Choice options Optuna
    cannot hold: tuples, Enum members), the distribution's choices are their JSON labels."""

    dist: BaseDistribution
    options: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Group:
    """A pydantic model: its fields' specs, by name."""

    fields: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Seq:
    """A fixed-length list or tuple: one spec per item."""

    items: tuple[Any, ...]


@dataclass(frozen=True)
class VarSeq:
    """A list of ``length`` items (a searched length up to ``max_length``), all of one spec."""

    length: IntDistribution
    item: Any


@dataclass(frozen=True)
class Fixed:
    """A part kept as it is, and why."""

    reason: str


Spec = Union[Leaf, Group, Seq, VarSeq, Fixed]
Draw = Callable[[str, BaseDistribution, Any], Any]


def spec_of(space: Space) -> Spec:
    """The spec of a parameter's space (Float, Int, Choice, Json; anything else is Fixed)."""
    if isinstance(space, Float):
        return Leaf(FloatDistribution(space.lo, space.hi, log=space.log))
    if isinstance(space, Int):
        return Leaf(IntDistribution(space.lo, space.hi, log=space.log and space.lo >= 1))
    if isinstance(space, Choice):
        if all(o is None or type(o) in (bool, int, float, str) for o in space.options):
            return Leaf(CategoricalDistribution(space.options))
        labels = [_label(o) for o in space.options]
        if len(set(labels)) < len(labels):
            return Fixed("two options read the same as JSON")
        return Leaf(CategoricalDistribution(labels), tuple(space.options))
    if isinstance(space, Json):
        return _model(space.model)
    return Fixed(f"{space.kind} parameters are not searched by numbers")


def _model(model: type[BaseModel]) -> Spec:
    return Group(tuple((name, _field(f.annotation, _constraints(f))) for name, f in model.model_fields.items()))


def _constraints(items: FieldInfo | Iterable[Any]) -> dict[str, Any]:
    """Bounds, lengths and ``log`` from a FieldInfo or Annotated metadata (nested FieldInfos too)."""
    out: dict[str, Any] = {}
    if isinstance(items, FieldInfo):
        extra = items.json_schema_extra
        if isinstance(extra, dict) and extra.get("log"):
            out["log"] = True
        items = items.metadata
    for m in items:
        if isinstance(m, FieldInfo):
            out.update(_constraints(m))
            continue
        for attr in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            value = getattr(m, attr, None)
            if value is not None:
                out[attr] = value
    return out


def _field(ann: Any, c: dict[str, Any]) -> Spec:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return _field(args[0], {**c, **_constraints(args[1:])})
    if ann is bool:
        return Leaf(CategoricalDistribution([False, True]))
    if origin is Literal:
        return Leaf(CategoricalDistribution(list(args)))
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        return Leaf(CategoricalDistribution([m.value for m in ann]))
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return _model(ann)
    if ann in (int, float):
        lo, hi = _bounds(ann, c)
        if lo is None or hi is None:
            return Fixed("a number without both bounds (use Field(ge=..., le=...))")
        if ann is int:
            return Leaf(IntDistribution(int(lo), int(hi), log=bool(c.get("log")) and lo >= 1))
        return Leaf(FloatDistribution(lo, hi, log=bool(c.get("log")) and lo > 0))
    if origin is tuple and args and args[-1] is not Ellipsis:
        return Seq(tuple(_field(a, {}) for a in args))
    if origin in (list, tuple) and args:
        lo, hi = c.get("min_length", 0), c.get("max_length")
        if hi is None:
            return Fixed("a list without max_length")
        item = _field(args[0], {})
        if isinstance(item, Fixed):
            return Fixed(f"list items are kept ({item.reason})")
        if lo == hi:
            return Seq((item,) * hi)
        return VarSeq(IntDistribution(lo, hi), item)
    return Fixed(f"type {ann!r} is not searched")


def _bounds(ann: type, c: dict[str, Any]) -> tuple[float | None, float | None]:
    lo, hi = c.get("ge"), c.get("le")
    if lo is None and c.get("gt") is not None:
        lo = c["gt"] + 1 if ann is int else math.nextafter(c["gt"], math.inf)
    if hi is None and c.get("lt") is not None:
        hi = c["lt"] - 1 if ann is int else math.nextafter(c["lt"], -math.inf)
    return lo, hi


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def _label(option: Any) -> str:
    """A Choice option as the text Optuna stores for it."""
    return json.dumps(_jsonable(option), sort_keys=True, default=repr)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    return value.value if isinstance(value, enum.Enum) else value


def sample(spec: Spec, key: str, current: Any, draw: Draw) -> Any:
    """A new value for ``spec``: every leaf comes from ``draw``; Fixed parts keep ``current``.

    Models come back as dicts (validate them through the space to get the model).
    """
    current = _plain(current)
    if isinstance(spec, Leaf) and spec.options is not None:
        labels = list(spec.dist.choices)
        label = _label(current)
        return spec.options[labels.index(draw(key, spec.dist, label if label in labels else None))]
    if isinstance(spec, Leaf):
        return draw(key, spec.dist, current)
    if isinstance(spec, Group):
        cur = current if isinstance(current, dict) else {}
        out = dict(cur)
        for name, sub in spec.fields:
            out[name] = sample(sub, f"{key}.{name}", cur.get(name), draw)
        return out
    if isinstance(spec, (Seq, VarSeq)):
        cur = list(current) if isinstance(current, (list, tuple)) else []
        if isinstance(spec, Seq):
            items = spec.items
        else:
            n = draw(f"{key}.len", spec.length, len(cur) if cur else None)
            items = (spec.item,) * n
        return [sample(s, f"{key}.{i}", cur[i] if i < len(cur) else None, draw) for i, s in enumerate(items)]
    return current


def flatten(spec: Spec, key: str, value: Any) -> dict[str, tuple[Any, BaseDistribution]]:
    """The leaves of ``value`` with their distributions, by dotted key (Fixed parts left out)."""
    value = _plain(value)
    out: dict[str, tuple[Any, BaseDistribution]] = {}
    if isinstance(spec, Leaf):
        out[key] = (_plain(value) if spec.options is None else _label(value), spec.dist)
    elif isinstance(spec, Group):
        for name, sub in spec.fields:
            out.update(flatten(sub, f"{key}.{name}", (value or {}).get(name)))
    elif isinstance(spec, Seq):
        for i, sub in enumerate(spec.items):
            out.update(flatten(sub, f"{key}.{i}", value[i]))
    elif isinstance(spec, VarSeq):
        out[f"{key}.len"] = (len(value), spec.length)
        for i, item in enumerate(value):
            out.update(flatten(spec.item, f"{key}.{i}", item))
    return out


def dimensions(spec: Spec) -> int:
    """How many leaves the spec can draw (0: nothing to search)."""
    if isinstance(spec, Leaf):
        return 1
    if isinstance(spec, Group):
        return sum(dimensions(s) for _, s in spec.fields)
    if isinstance(spec, Seq):
        return sum(dimensions(s) for s in spec.items)
    if isinstance(spec, VarSeq):
        return 1 + spec.length.high * dimensions(spec.item)
    return 0


def fixed_parts(spec: Spec, key: str) -> list[str]:
    """``"key: reason"`` for every part of the spec that is kept as it is."""
    if isinstance(spec, Fixed):
        return [f"{key}: {spec.reason}"]
    if isinstance(spec, Group):
        return [p for name, s in spec.fields for p in fixed_parts(s, f"{key}.{name}")]
    if isinstance(spec, Seq):
        return [p for i, s in enumerate(spec.items) for p in fixed_parts(s, f"{key}.{i}")]
    if isinstance(spec, VarSeq):
        return fixed_parts(spec.item, f"{key}.<i>")
    return []

