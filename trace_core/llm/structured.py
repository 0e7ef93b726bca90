"""Structured output and tools: pydantic models to schemas, replies back to models."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from trace_core.llm.errors import UnparseableReply
from trace_core.llm.records import Completion, Request, json_schema

__all__ = ["tool_schema", "tool_schemas", "schema_instruction", "with_schema_prompt", "parse_reply", "parse_completion"]

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def tool_schema(tool: Mapping[str, Any] | type[BaseModel]) -> dict[str, Any]:
    """An OpenAI tool schema from a schema (checked) or a pydantic model (name, docstring, fields).

    Example:
        >>> class Weather(BaseModel):
        ...     '''Today's weather in a city.'''
        ...     city: str
        >>> tool_schema(Weather)["function"]["name"]
        'Weather'
    """
    if isinstance(tool, type) and issubclass(tool, BaseModel):
        doc = inspect.getdoc(tool) or ""
        if doc == inspect.getdoc(BaseModel):
            doc = ""
        return {"type": "function", "function": {"name": tool.__name__, "description": doc,
                                                 "parameters": tool.model_json_schema()}}
    if isinstance(tool, Mapping):
        fn = tool.get("function") if tool.get("type", "function") == "function" else None
        if not isinstance(fn, Mapping) or not fn.get("name"):
            raise ValueError(f"tool {tool!r} is not an OpenAI tool schema; expected "
                             "{'type': 'function', 'function': {'name': ..., 'parameters': {...}}} or a pydantic model")
        return dict(tool)
    raise TypeError(f"a tool must be an OpenAI tool schema (dict) or a pydantic model class, not {type(tool).__name__}")


def tool_schemas(tools: Sequence[Mapping[str, Any] | type[BaseModel]] | None) -> tuple[dict[str, Any], ...] | None:
    """All tools as OpenAI schemas (None stays None)."""
    return None if tools is None else tuple(tool_schema(t) for t in tools)


def schema_instruction(model: type[BaseModel]) -> str:
    """The instruction added to the prompt for models without native structured output."""
    schema = json.dumps(json_schema(model), separators=(",", ":"))
    return (f"Answer with one JSON object that validates against this JSON schema ({model.__name__}):\n{schema}\n"
            "Reply with the JSON object only, without code fences or commentary.")


def with_schema_prompt(request: Request) -> list[dict[str, Any]]:
    """The request's messages with the schema instruction appended as a system message."""
    assert request.response_format is not None
    return [*request.messages, {"role": "system", "content": schema_instruction(request.response_format)}]


def parse_reply(text: str, model: type[BaseModel], *, llm_model: str | None = None) -> BaseModel:
    """Validate a reply against ``model`` (code fences and text around the object are tolerated).

    Raises:
        UnparseableReply: the reply is not JSON or does not fit; ``raw`` keeps the text.
    """
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start: end + 1])
    error: Exception | None = None
    for candidate in candidates:
        try:
            return model.model_validate_json(candidate)
        except ValidationError as exc:
            error = exc
    detail = _summarize(error)
    raise UnparseableReply(f"reply of {llm_model or 'the model'} does not fit {model.__name__}: {detail}; "
                           f"reply with one JSON object matching the schema", raw=text, model=llm_model)


def parse_completion(request: Request, completion: Completion) -> Completion:
    """``completion`` with ``parsed`` filled when the request asked a ``response_format``."""
    if request.response_format is None or completion.parsed is not None:
        return completion
    parsed = tuple(parse_reply(t, request.response_format, llm_model=completion.model) for t in completion.texts)
    return completion.model_copy(update={"parsed": parsed})


def _summarize(error: Exception | None) -> str:
    if isinstance(error, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in error.errors()[:5]]
        return "; ".join(parts)
    return str(error)
