"""Values by parameter name as JSON data, and comparing them (for state dicts and matching)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from trace_core import Parameter
from trace_core.errors import InvalidProposal

__all__ = ["to_json_values", "from_json_values", "same_values", "key_of", "shown_values"]


def to_json_values(params: Mapping[str, Parameter], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as plain JSON data (models dumped), names in ``params`` only."""
    return {n: params[n].space.to_json(v) for n, v in values.items() if n in params}


def from_json_values(params: Mapping[str, Parameter], data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate JSON data back into clean values (raises ``InvalidProposal``)."""
    return {n: params[n].space.validate(v) for n, v in data.items() if n in params}


def key_of(data: Mapping[str, Any]) -> str:
    """A canonical string of JSON values (to compare or deduplicate them)."""
    return json.dumps(data, sort_keys=True, default=repr)


def same_values(params: Mapping[str, Parameter], expected: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """True when ``values`` holds every name of ``expected`` (JSON data) with an equal value."""
    try:
        got = {n: params[n].space.to_json(params[n].space.validate(values[n])) for n in expected}
    except (KeyError, InvalidProposal):
        return False
    return key_of(got) == key_of(expected)


def shown_values(values: Mapping[str, Any], limit: int = 120) -> str:
    """Values as ``x=0, y=0`` (each cut to ``limit`` characters) for a note to the model."""
    parts = []
    for name, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        text = " ".join(text.split())
        parts.append(f"{name}={text if len(text) <= limit else text[:limit] + '…'}")
    return ", ".join(parts)
