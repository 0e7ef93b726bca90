"""The checks behind :func:`agents.jobs.parse_job`: reading files, secrets, readable
problem lines from pydantic errors, and what needs an import (task names and
options, workflow targets, data and reply files)."""

from __future__ import annotations

import inspect
import json
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from trace_core.errors import ConfigError
from trace_core.llm.redact import known_secrets, redact_text

__all__ = ["read_job_file", "secret_problems", "pydantic_problems", "task_problems", "llm_problems",
           "load_examples", "scripted_replies", "show", "init_parameters"]

_SECRET_NAMES = {"api_key", "apikey", "api-key", "key", "token", "access_token", "auth_token", "secret",
                 "client_secret", "password", "authorization", "bearer", "headers", "extra_headers"}
_KEY_HELP = ("API keys may not be written in a job file (they would be copied into the run store and its "
             "reports); set TRACETUNE_LLM_API_KEY or the provider's variable (OPENAI_API_KEY, ANTHROPIC_API_KEY, "
             "...) in the environment")
_INTERNAL = {"base_dir"}  # set by the loader, not by the file


def read_job_file(path: Path) -> Any:
    """The parsed content of a ``.toml``, ``.yaml``/``.yml`` or ``.json`` job file."""
    from agents.jobs import JobError

    if not path.is_file():
        raise JobError(str(path), [f"(file): no such file {str(path)!r}"])
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text) or {}
        if suffix == ".json":
            return json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise JobError(str(path), [f"(file): not valid {suffix[1:].upper()}: {e}"]) from None
    except Exception as e:  # noqa: BLE001 - yaml.YAMLError and friends
        raise JobError(str(path), [f"(file): not valid YAML: {e}"]) from None
    raise JobError(str(path), [f"(file): unknown job file type {suffix!r}; use .toml, .yaml, .yml or .json"])


def show(value: Any, limit: int = 60) -> str:
    """A short, redacted rendering of a value for a problem line."""
    text = redact_text(repr(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def secret_problems(raw: Mapping[str, Any]) -> tuple[list[str], set[str]]:
    """Problems for keys written in the file, and the locations they were found at.

    Secret-named settings in the ``llm`` table, and key-shaped strings (or values of
    the environment's key variables) anywhere, are refused; their values are never shown.
    """
    secrets = known_secrets()
    problems: list[str] = []
    locs: set[str] = set()

    def walk(value: Any, loc: str, in_llm: bool) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                sub = f"{loc}.{k}" if loc else str(k)
                if (in_llm or sub == "llm") and str(k).lower() in _SECRET_NAMES and v:
                    problems.append(f"{sub}: {_KEY_HELP}")
                    locs.add(sub)
                else:
                    walk(v, sub, in_llm or sub == "llm")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{loc}.{i}", in_llm)
        elif isinstance(value, str) and (redact_text(value) != value or any(s in value for s in secrets)):
            problems.append(f"{loc}: the value looks like an API key or password (not shown); {_KEY_HELP}")
            locs.add(loc)

    walk(raw, "", False)
    return problems, locs


def _field_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _field_model(arg)
        if found is not None:
            return found
    return None


def _resolve(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[str], type[BaseModel] | None]:
    """The part of ``loc`` that names fields, and the model holding the last one's fields."""
    names: list[str] = []
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            names.append(str(part))
            continue
        if current is None or part not in current.model_fields:
            break  # a union branch tag ('str', 'list[any]') or a key inside a plain dict
        names.append(str(part))
        current = _field_model(current.model_fields[part].annotation)
    return names, current


def pydantic_problems(error: ValidationError, model: type[BaseModel], skip: set[str] = frozenset()) -> list[str]:
    """One line per problem: ``field = value: what is allowed``; union branches merged."""
    grouped: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for err in error.errors(include_url=False):
        kind, where = err["type"], tuple(err["loc"])
        names = [str(p) for p in where] if kind == "extra_forbidden" else _resolve(model, where)[0]
        loc = ".".join(names) or "(top level)"
        if loc in skip:
            continue
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if kind == "extra_forbidden":
            holder = _resolve(model, where[:-1])[1]
            allowed = [f for f in (holder.model_fields if holder else ()) if f not in _INTERNAL]
            msg = f"unknown setting; allowed here: {', '.join(allowed)}" if allowed else "unknown setting"
        elif kind == "missing":
            msg = "required but missing"
        grouped.setdefault(loc, [])
        if msg not in grouped[loc]:
            grouped[loc].append(msg)
        if kind not in ("missing",) and "input" in err:
            values.setdefault(loc, err["input"])
    lines = []
    for loc, msgs in grouped.items():
        shown = f" = {show(values[loc])}" if loc in values and not isinstance(values[loc], Mapping) else ""
        lines.append(f"{loc}{shown}: {' or '.join(msgs)}")
    return lines


def task_problems(task: Any) -> list[str]:
    """What an import shows: unknown task names or options, missing workflow functions, bad data files."""
    from tasks.registry import is_registered, load_target, task_class, task_names

    problems: list[str] = []
    if task.name is not None:
        if not is_registered(task.name):
            return [f"task.name = {task.name!r}: unknown task; registered: {', '.join(task_names())}"]
        try:
            cls = task_class(task.name)
        except Exception as e:  # noqa: BLE001 - an import error of the task's module
            return [f"task.name = {task.name!r}: its module cannot be imported: {type(e).__name__}: {e}"]
        params = init_parameters(cls)
        if params is not None:
            for opt in task.options:
                if opt not in params:
                    problems.append(f"task.options.{opt}: not an option of task {task.name!r}; allowed: "
                                    f"{', '.join(params) or '(none)'}")
        return problems
    for field in ("workflow", "feedback"):
        target = getattr(task, field)
        try:
            obj = load_target(target)
        except ConfigError as e:
            problems.append(f"task.{field} = {target!r}: {e}")
            continue
        except Exception as e:  # noqa: BLE001 - user code that fails on import
            problems.append(f"task.{field} = {target!r}: importing it raised {type(e).__name__}: {e}")
            continue
        if not callable(obj):
            problems.append(f"task.{field} = {target!r}: not callable")
    for field in ("train", "val"):
        try:
            load_examples(getattr(task, field))
        except ConfigError as e:
            problems.append(f"task.{field}: {e}")
    return problems


def init_parameters(cls: Any) -> list[str] | None:
    """Keyword names ``cls(...)`` takes, or None when it takes any (``**kwargs``) or is opaque."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return [n for n, p in sig.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def llm_problems(llm: Any) -> list[str]:
    """Problems with a test-hook LLM's file (``scripted:``, ``replay:``)."""
    if llm.model.startswith("scripted:"):
        try:
            scripted_replies(llm.model[len("scripted:"):])
        except ConfigError as e:
            return [f"llm.model: {e}"]
    elif llm.model.startswith("replay:") and not Path(llm.model[len("replay:"):]).is_file():
        return [f"llm.model = {llm.model!r}: no recording at that path"]
    return []


def load_examples(value: Any) -> list[Any] | None:
    """Examples given inline (a list) or as a path to a JSON list or a JSONL file."""
    if value is None or isinstance(value, list):
        return value
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"no data file {str(path)!r}; give a list of examples or a .json/.jsonl file")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{str(path)!r} is not valid JSON: {e}") from None
    if not isinstance(data, list):
        raise ConfigError(f"{str(path)!r} must hold a JSON list of examples, got a {type(data).__name__}")
    return data


def scripted_replies(path: str) -> Any:
    """Replies for a ScriptedLLM from a JSON file: a list (used in turn) or ``{"rules": {substring: reply}}``.

    A reply that is not a string (an object such as ``{"reasoning": ..., "suggestion": ...}``)
    is sent as its JSON text.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"no scripted replies file {path!r}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"scripted replies {path!r} are not valid JSON: {e}") from None

    def as_text(reply: Any) -> Any:
        if isinstance(reply, list):
            return [as_text(r) for r in reply]
        return reply if isinstance(reply, str) else json.dumps(reply)

    if isinstance(data, list) and data:
        return [as_text(r) for r in data]
    if isinstance(data, dict) and isinstance(data.get("rules"), dict) and data["rules"]:
        return {k: as_text(v) for k, v in data["rules"].items()}
    raise ConfigError(f"scripted replies {path!r} must be a non-empty JSON list or {{\"rules\": {{substring: reply}}}}")

