"""A state (parameter name -> value) as a JSON file: what ``Module.save``/``load`` and a
bundled function's ``save``/``load`` write and read.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "state.json")
    >>> write_state(path, {"k": 2.5})
    >>> read_state(path)
    {'k': 2.5}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from trace_core.errors import ConfigError

__all__ = ["write_state", "read_state"]


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def write_state(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """Write name -> value as JSON, atomically (``Module.save``, a bundled function's ``save``)."""
    try:
        text = json.dumps(state, indent=2, sort_keys=True)
    except (TypeError, ValueError) as e:
        bad = [n for n, v in state.items() if not _is_json(v)]
        raise ConfigError(f"cannot save {bad or 'the state'} as JSON ({e}); give those parameters a space "
                          "whose values are JSON data (Text, Float, Int, Choice, Json ...)") from None
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def read_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read name -> value written by :func:`write_state`."""
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); it should be a file written by save()") from None
    if not isinstance(state, dict):
        raise ConfigError(f"{path} holds {type(state).__name__}, expected a JSON object of name -> value")
    return state
