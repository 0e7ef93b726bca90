"""Reading a job file: UTF-8 (a byte-order mark is accepted), TOML, YAML or JSON, with
every way a file can be unreadable turned into a :class:`~agents.jobs.JobError`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from agents._job_checks import JobError, scrub

__all__ = ["read_job_file"]

_MAX_BYTES = 10 * 2**20  # a job file is a few settings; anything larger is a mistake
_FORMATS = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}


def read_job_file(path: Path) -> Any:
    """The parsed content of a ``.toml``, ``.yaml``/``.yml`` or ``.json`` job file.

    The file must be UTF-8 (a byte-order mark is accepted). YAML aliases (``*name``)
    are refused: expanding them can blow a small file up to billions of values.
    """
    def refuse(problem: str) -> JobError:
        return JobError(str(path), [f"(file): {problem}"])

    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise refuse(f"unknown job file type {suffix!r}; use .toml, .yaml, .yml or .json")
    try:
        if not path.is_file():
            raise refuse(f"no such file {str(path)!r}")
        if path.stat().st_size > _MAX_BYTES:
            raise refuse(f"the file is over {_MAX_BYTES // 2**20} MiB; a job file holds settings, "
                         "put data in a .json/.jsonl file named by task.train")
        raw = path.read_bytes()
    except OSError as e:
        raise refuse(f"cannot be read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise refuse(f"not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); save the file as "
                     "UTF-8") from None
    kind = _FORMATS[suffix]
    try:
        if kind == "TOML":
            return tomllib.loads(text)
        if kind == "JSON":
            return json.loads(text)
        return _load_yaml(text)
    except RecursionError:
        raise refuse(f"not valid {kind}: values nested too deeply") from None
    except Exception as e:  # noqa: BLE001 - the parsers' errors (TOMLDecodeError, JSONDecodeError, YAMLError ...)
        raise refuse(f"not valid {kind}: {_parse_error(e)}") from None


def _parse_error(error: Exception) -> str:
    """A parser's message without the quoted file content (it may hold a secret)."""
    problem, mark = getattr(error, "problem", None), getattr(error, "problem_mark", None)
    if problem and mark is not None:  # yaml.MarkedYAMLError: its str() quotes the offending line
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    text = scrub(" ".join(str(error).split()))
    return text if len(text) <= 300 else text[:299] + "…"


def _load_yaml(text: str) -> Any:
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"aliases (*name) are not allowed in a job file (line {mark.line + 1}); "
                                     "write the values out")
            return super().compose_node(parent, index)

    return yaml.load(text, Loader=NoAliases) or {}  # noqa: S506 - a SafeLoader
