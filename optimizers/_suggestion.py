"""The suggestion format: ``{"reasoning": ..., "suggestion": {name: value}, "no_change": bool}``.

:func:`reply_model` builds the reply's schema from the parameters' spaces (sent as
structured output); :func:`check_suggestion` parses a reply leniently and validates every
value against its parameter's space, reporting all problems at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from optimizers._parse import parse_json, unfenced
from optimizers.base import Optimizer
from trace_core import Parameter
from trace_core.errors import InvalidProposal
from trace_core.llm.errors import UnparseableReply
from trace_core.spaces import Choice, Code, Float, Int, Json, Space, Text

__all__ = ["Suggestion", "reply_model", "check_suggestion"]


def _annotation(space: Space) -> Any:
    """A pydantic type for one space (used for the JSON schema sent as structured output)."""
    if isinstance(space, Float):
        return Annotated[float, Field(ge=space.lo, le=space.hi)]
    if isinstance(space, Int):
        return Annotated[int, Field(ge=space.lo, le=space.hi)]
    if isinstance(space, Text):
        return Annotated[str, Field(max_length=space.max_chars)] if space.max_chars else str
    if isinstance(space, Code):
        return str
    if isinstance(space, Choice):
        if all(o is None or type(o) in (str, int, float, bool) for o in space.options):
            return Literal[tuple(space.options)]
        return Annotated[Any, WithJsonSchema(space.schema())]  # tuples, Enum members: their JSON values
    if isinstance(space, Json):
        return space.model
    return Any


_KEEP = ("enum", "const", "examples", "required")  # schema keywords whose values are data, not schemas
_NAMED = ("properties", "$defs", "definitions", "patternProperties")  # name -> schema


def _no_defaults(schema: Any) -> Any:
    """``schema`` without ``default`` keywords: strict structured output (OpenAI, Azure) refuses them."""
    if isinstance(schema, list):
        return [_no_defaults(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "default":
            continue
        if key in _NAMED and isinstance(value, dict):
            out[key] = {name: _no_defaults(sub) for name, sub in value.items()}
        else:
            out[key] = value if key in _KEEP else _no_defaults(value)
    return out


class _ReplyBase(BaseModel):
    """The reply model's base: a schema to send as structured output (without ``default``
    keywords). A reply is checked once, by :func:`check_suggestion` from its text (which
    sends problems back to the model), so the LLM layer's parse of it checks nothing."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _no_defaults(super().model_json_schema(*args, **kwargs))

    @classmethod
    def model_validate_json(cls, json_data: Any, **kwargs: Any) -> Any:
        return cls.model_construct()  # not checked here: check_suggestion checks the text, once


def reply_model(parameters: Sequence[Parameter]) -> type[BaseModel]:
    """The reply's pydantic model, built from the parameters' spaces (keys are their names).

    It is the schema sent as structured output; replies are checked by :func:`check_suggestion`.

    Example:
        >>> from trace_core.spaces import Float
        >>> Reply = reply_model([Parameter(1.0, name="lr", space=Float(0, 1))])
        >>> Reply.model_json_schema()["$defs"]["Suggestion"]["properties"]["lr"]["anyOf"][0]["maximum"]
        1.0
    """
    fields: dict[str, Any] = {
        f"v{i}": (_annotation(p.space) | None, Field(default=None, alias=p.name, description=p.space.describe()))
        for i, p in enumerate(parameters)
    }
    suggestion = create_model("Suggestion", __config__=ConfigDict(extra="forbid"), **fields)
    return create_model(
        "Reply",
        __base__=_ReplyBase,
        reasoning=(str, Field(description="why these values should make the feedback better")),
        suggestion=(suggestion, Field(description="variable name -> new value; omit variables to keep")),
        no_change=(bool, Field(default=False, description="true when no variable should change")),
    )


@dataclass(frozen=True)
class Suggestion:
    """A checked reply: the reasoning and the validated values that differ from the live
    ones (see :func:`check_suggestion` for an example)."""

    reasoning: str
    values: dict[str, Any]
    no_change: bool


def _bool(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidProposal(f'"no_change" must be true or false, got {json.dumps(value, default=str)[:80]}')


def _completed(value: Any, param: Parameter) -> Any:
    """A structured value given in part (some fields): the other fields keep their current values."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    return _merged(param.space.to_json(param._value), value)


def _merged(current: Any, new: Any) -> Any:
    if not (isinstance(current, dict) and isinstance(new, dict)):
        return new
    return {**current, **{k: _merged(current.get(k), v) for k, v in new.items()}}


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and odd types: treat as different
        return False


def check_suggestion(text: str, optimizer: Optimizer) -> Suggestion:
    """Parse a suggestion reply and validate every value against its parameter's space.

    All problems of a reply are reported at once; nothing is assigned.

    Raises:
        UnparseableReply: not JSON, or not the expected object.
        InvalidProposal: unknown names or values a space rejects (every one listed).

    Example:
        >>> from optimizers.optoprime import OptoPrime
        >>> from trace_core.spaces import Int
        >>> opt = OptoPrime([Parameter(1, name="k", space=Int(1, 9))], llm=None)
        >>> check_suggestion('{"reasoning": "more", "suggestion": {"k": "4"}}', opt)
        Suggestion(reasoning='more', values={'k': 4}, no_change=False)
    """
    data = parse_json(text)
    if not isinstance(data, dict):
        raise UnparseableReply(
            f'expected a JSON object with keys "reasoning", "suggestion" and "no_change", got a JSON '
            f"{type(data).__name__}", raw=text)
    no_change = _bool(data.get("no_change", False))
    reasoning = data.get("reasoning", "")
    reasoning = reasoning if isinstance(reasoning, str) else json.dumps(reasoning, default=str)
    if no_change:
        return Suggestion(reasoning, {}, True)
    if "suggestion" not in data:
        raise UnparseableReply(
            f'the object has no "suggestion" key (its keys: {sorted(data)}); use exactly "reasoning", "suggestion" '
            '(variable name -> new value) and "no_change"', raw=text)
    proposal = data["suggestion"]
    if proposal is None:
        proposal = {}
    if not isinstance(proposal, dict):
        raise UnparseableReply(
            f'"suggestion" must be a JSON object mapping variable names to new values, got a {type(proposal).__name__}',
            raw=text)
    clean: dict[str, Any] = {}
    errors: list[str] = []
    for name, value in proposal.items():
        param = optimizer.by_name.get(name)
        if param is not None and param.space.kind == "code":
            value = unfenced(value)
        elif param is not None and param.space.kind == "json":
            value = _completed(value, param)
        try:
            clean.update(optimizer.validate({name: value}))
        except InvalidProposal as e:
            errors.append(str(e))
        except Exception as e:  # noqa: BLE001 - a space that raised something else: still the model's error
            errors.append(f"{name}: {type(e).__name__}: {e}")
    if errors:
        raise InvalidProposal("; ".join(errors) + ". Nothing was changed; fix these values (or leave them out).")
    changed = {n: v for n, v in clean.items() if not _same(v, optimizer.by_name[n]._value)}
    return Suggestion(reasoning, changed, not changed)
