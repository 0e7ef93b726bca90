"""The suggestion formats, and checking a reply against the parameters' spaces.

Two forms are asked for and both are always accepted:

- **marked**, asked for when a variable holds code or long text: one
  ``[[ ## name ## ]]`` block per field (``reasoning``, each variable, ``no_change``),
  values written as they are, so code is never escaped inside JSON (DSPy's chat
  adapter and TextGrad's tags work the same way);
- **json**, asked for otherwise: ``{"reasoning": ..., "suggestion": {name: value},
  "no_change": bool}`` (a small model fills numbers in JSON more reliably than under
  markers, where it tends to leave them blank); its schema goes as native structured
  output where the server has it.

:func:`reply_model` builds the JSON schema from the spaces; :func:`reply_format` the
instructions; :func:`check_suggestion` parses a reply leniently and validates every
value against its parameter's space, reporting all problems at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from optimizers._parse import code_of, marker, parse_json, parse_marked, unfenced
from optimizers.base import Optimizer
from trace_core import Parameter, prompts
from trace_core.errors import InvalidProposal
from trace_core.llm.errors import UnparseableReply
from trace_core.spaces import Choice, Code, Float, Int, Json, Space, Text

__all__ = ["Suggestion", "reply_model", "reply_format", "needs_blocks", "expected_reply_tokens", "check_suggestion"]


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
        >>> Reply.model_json_schema()["$defs"]["Suggestion"]["properties"]["lr"]["maximum"]
        1.0
    """
    fields: dict[str, Any] = {
        # not nullable: a key left out keeps its variable. A null in the schema let grammar-constrained
        # decoding (llama.cpp) write {"x": null, "y": null} for every variable (Qwen2.5-Coder-1.5B).
        f"v{i}": (_annotation(p.space), Field(default=None, alias=p.name, description=p.space.describe()))
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


_SHORT_TEXT = 200  # text allowed at most this long may go inside JSON; longer text gets its own block


def _blocked(space: Space) -> bool:
    """Whether values of ``space`` are sent in their own block, never inside a JSON string."""
    return space.kind == "code" or (space.kind == "text" and (space.max_chars or _SHORT_TEXT + 1) > _SHORT_TEXT)


def needs_blocks(parameters: Sequence[Parameter]) -> bool:
    """True when a parameter holds code or long text (its reply must not be JSON).

    Example:
        >>> from trace_core.spaces import Code
        >>> needs_blocks([Parameter("def f():\\n    pass\\n", name="f", space=Code())])
        True
    """
    return any(_blocked(p.space) for p in parameters)


def reply_format(parameters: Sequence[Parameter], form: str = "marked") -> str:
    """The reply instructions for ``form`` (``"marked"`` or ``"json"``), naming every parameter.

    Example:
        >>> from trace_core.spaces import Int
        >>> print(reply_format([Parameter(3, name="k", space=Int(1, 9))], "json").splitlines()[1])
        {"reasoning": "<what the feedback says and why your change helps>", "suggestion": {"k": <new value>}, "no_change": false}
    """
    if form == "json":
        example = ", ".join(f'"{p.name}": <new value>' for p in parameters)
        return prompts.render("reply/json", example=example).strip()
    fields = [prompts.render("reply/code_field" if p.space.kind == "code" else "reply/field", name=p.name,
                             allowed=p.space.describe()).strip() for p in parameters]
    return prompts.render("reply/marked", fields="\n\n".join(fields)).strip()


def expected_reply_tokens(parameters: Sequence[Parameter]) -> int:
    """A generous reply size in tokens (sent as ``max_tokens``): the reasoning plus every
    value at twice its current length (at least a few lines each).

    Example:
        >>> from trace_core.spaces import Float
        >>> expected_reply_tokens([Parameter(0.5, name="x", space=Float(0, 1))])
        512
    """
    total = 300
    for p in parameters:
        if p.space.kind in ("code", "text"):
            chars = len(str(p._value))
            limit = getattr(p.space, "max_chars", None)
            total += 64 + (min(chars * 2, limit) if limit else max(chars * 2, 400)) // 3
        elif p.space.kind == "json":
            total += 32 + len(json.dumps(p.space.to_json(p._value), default=str)) // 2
        else:
            total += 24
    return max(512, min(8192, total))


@dataclass(frozen=True)
class Suggestion:
    """A checked reply: the reasoning, the validated values that differ from the live
    ones, and ``same``: values it proposed that equal the live ones (JSON data), so a
    reply that only repeats the current values can be told so (see
    :func:`check_suggestion` for an example)."""

    reasoning: str
    values: dict[str, Any]
    no_change: bool
    same: dict[str, Any] = field(default_factory=dict)


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
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()  # code and text: a trailing line break is no change
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and odd types: treat as different
        return False


_SKIP = object()
_KEEP_WORDS = {"", "unchanged", "keep", "same", "no change", "<unchanged>", "(unchanged)", "(keep)"}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _from_block(body: str, param: Parameter) -> Any:
    """A value written under a marker, as the space expects it (``_SKIP``: the variable is kept)."""
    text = body.strip()
    if text.lower().strip(" .") in _KEEP_WORDS:
        return _SKIP
    kind = param.space.kind
    if kind == "code":
        return code_of(text)
    bare = unfenced(text)
    if kind == "text":
        return bare.rstrip("\n") if bare is not text else text
    bare = bare.strip().strip("`").strip()
    if kind == "json":
        try:
            return json.loads(bare)
        except json.JSONDecodeError:
            return bare  # a partial object or a message the space explains
    first = bare.splitlines()[0].strip() if bare else ""
    try:
        return json.loads(first)
    except json.JSONDecodeError:
        pass
    if kind in ("float", "int") and (number := _NUMBER.match(first)):
        return number.group()  # "3.5 (closer to the center)": the number
    return first.strip("\"'")


def _marked(text: str, fields: dict[str, str], optimizer: Optimizer) -> tuple[str, bool, dict[str, Any]]:
    reasoning = fields.pop("reasoning", "")
    flag = fields.pop("no_change", "").strip().strip("`*.").split()
    proposal, kept = {}, []
    for name, body in fields.items():
        value = _from_block(body, optimizer.by_name[name])
        if value is not _SKIP:
            proposal[name] = value
        elif body.strip():
            kept.append(name)  # "unchanged", "keep": said, not left blank
    try:
        no_change = _bool(flag[0].strip(".,:;")) if flag else False
    except InvalidProposal:
        if not proposal:
            raise
        no_change = False  # prose under the no_change marker beside new values: the values say it
    empty = [name for name, body in fields.items() if not body.strip()]
    if not proposal and not no_change and empty:
        raise UnparseableReply(prompts.render("reply/empty_blocks", names=", ".join(empty)).strip(), raw=text)
    if not proposal and kept:  # every variable it wrote about is kept: a decline, not a reply to repair
        return reasoning, True, proposal
    if not proposal and not no_change:
        markers = ", ".join(marker(p.name) for p in optimizer.parameters)
        raise UnparseableReply(f"it has no block for any variable ({markers}) and no {marker('no_change')} block; "
                               "write each new value on the lines under its own marker", raw=text)
    return reasoning, no_change, proposal


def _not_json(text: str, error: UnparseableReply, optimizer: Optimizer) -> UnparseableReply:
    """The repair message when the marked form was asked for and the reply is neither form."""
    markers = ", ".join(marker(p.name) for p in optimizer.parameters)
    if "{" not in text:
        return UnparseableReply(prompts.render("reply/no_markers", markers=markers).strip(), raw=text)
    quotes = next((q for q in ('"""', "'''") if q in text), None)
    code = [p.name for p in optimizer.parameters if p.space.kind == "code"]
    if quotes and code:
        name = next((n for n in code if f'"{n}"' in text), code[0])
        return UnparseableReply(prompts.render("reply/code_in_json", name=name, quotes=quotes).strip(), raw=text)
    problem = str(error).split("; send")[0].removeprefix("the reply is not valid JSON: ")
    return UnparseableReply(prompts.render("reply/not_json", problem=problem, markers=markers).strip(), raw=text)


def _json(text: str, optimizer: Optimizer, form: str) -> tuple[str, bool, dict[str, Any]]:
    try:
        data = parse_json(text)
    except UnparseableReply as e:
        raise (_not_json(text, e, optimizer) if form == "marked" else e) from None
    if not isinstance(data, dict):
        raise UnparseableReply(
            f'expected a JSON object with keys "reasoning", "suggestion" and "no_change", got a JSON '
            f"{type(data).__name__}", raw=text)
    no_change = _bool(data.get("no_change", False))
    reasoning = data.get("reasoning", "")
    reasoning = reasoning if isinstance(reasoning, str) else json.dumps(reasoning, default=str)
    if no_change:
        return reasoning, True, {}
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
    for name, value in proposal.items():
        param = optimizer.by_name.get(name)
        if param is not None and param.space.kind == "code":
            proposal[name] = unfenced(value)
    return reasoning, False, proposal


def check_suggestion(text: str, optimizer: Optimizer, form: str = "marked") -> Suggestion:
    """Parse a suggestion reply (marked or JSON form) and validate every value against
    its parameter's space. ``form`` is the form that was asked for: it only chooses the
    words of an error.

    All problems of a reply are reported at once; nothing is assigned.

    Raises:
        UnparseableReply: neither form, or not the expected fields.
        InvalidProposal: unknown names or values a space rejects (every one listed).

    Example:
        >>> from optimizers.optoprime import OptoPrime
        >>> from trace_core.spaces import Int
        >>> opt = OptoPrime([Parameter(1, name="k", space=Int(1, 9))], llm=None)
        >>> check_suggestion('{"reasoning": "more", "suggestion": {"k": "4"}}', opt)
        Suggestion(reasoning='more', values={'k': 4}, no_change=False, same={})
        >>> check_suggestion("[[ ## reasoning ## ]]\\nkeep\\n[[ ## k ## ]]\\n1", opt).same
        {'k': 1}
    """
    fields = parse_marked(text, ["reasoning", "no_change", *optimizer.by_name])
    if fields is not None:
        reasoning, no_change, proposal = _marked(text, fields, optimizer)
    else:
        reasoning, no_change, proposal = _json(text, optimizer, form)
    if no_change:
        return Suggestion(reasoning, {}, True)
    clean: dict[str, Any] = {}
    errors: list[str] = []
    for name, value in proposal.items():
        param = optimizer.by_name.get(name)
        if param is not None and param.space.kind == "json":
            value = _completed(value, param)
        try:
            clean.update(optimizer.validate({name: value}))
        except InvalidProposal as e:
            if value is None and param is not None:
                continue  # null where the space takes no null: the variable is kept (the reply schema allows null)
            errors.append(str(e))
        except Exception as e:  # noqa: BLE001 - a space that raised something else: still the model's error
            errors.append(f"{name}: {type(e).__name__}: {e}")
    if errors:
        raise InvalidProposal("; ".join(errors) + ". Nothing was changed; fix these values (or leave them out).")
    live = optimizer.by_name
    changed = {n: v for n, v in clean.items() if not _same(v, live[n]._value)}
    same = {n: live[n].space.to_json(v) for n, v in clean.items() if n not in changed}
    return Suggestion(reasoning, changed, not changed, same)
