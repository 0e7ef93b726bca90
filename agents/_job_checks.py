"""The checks behind :func:`agents.jobs.parse_job` and the error that lists what they
find (:class:`JobError`): secrets, readable problem lines from pydantic errors, and what
needs an import (task names and options, optimizer options, workflow targets, data and
reply files)."""

from __future__ import annotations

import inspect
import logging
import json
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from trace_core.errors import ConfigError
from trace_core.llm.redact import known_secrets, redact_text

log = logging.getLogger(__name__)

__all__ = ["JobError", "scrub", "secret_problems", "pydantic_problems", "task_problems", "optimizer_problems",
           "llm_problems", "price_problems", "load_examples", "scripted_replies", "show", "init_parameters"]

_SECRET_NAMES = {"api_key", "apikey", "api-key", "key", "token", "access_token", "auth_token", "secret",
                 "client_secret", "password", "authorization", "bearer", "headers", "extra_headers"}
_KEY_HELP = ("API keys may not be written in a job file (they would be copied into the run store and its "
             "reports); set TRACETUNE_LLM_API_KEY or the provider's variable (OPENAI_API_KEY, ANTHROPIC_API_KEY, "
             "...) in the environment")
_INTERNAL = {"base_dir"}  # set by the loader, not by the file
_URL_HELP = ("the URL holds a user name or password (not shown); write the URL without it and set the key in "
             "the environment (TRACETUNE_LLM_API_KEY or the provider's variable, such as OPENAI_API_KEY)")
_USERINFO = re.compile(r"://[^/@\s]+@")
_MAX_LINES = 30  # problems shown from one validation; a wrong array could give thousands


class JobError(ConfigError):
    """An invalid job file; ``problems`` lists each one (``"field = value: what is allowed"``).

    Example:
        >>> e = JobError("night.toml", ["k = 0: Input should be greater than or equal to 1"])
        >>> print(e)
        invalid job file night.toml (1 problem):
          - k = 0: Input should be greater than or equal to 1
    """

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"invalid job file {source} ({n} problem{'s' if n != 1 else ''}):\n{lines}")


def scrub(text: str) -> str:
    """``text`` without keys, known secrets and the user part of URLs."""
    return _USERINFO.sub("://[REDACTED]@", redact_text(text))


def show(value: Any, limit: int = 60) -> str:
    """A short, redacted rendering of a value for a problem line."""
    text = scrub(repr(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def secret_problems(raw: Mapping[str, Any]) -> tuple[list[str], set[str]]:
    """Problems for keys written in the file, and the locations they were found at.

    Secret-named settings in the ``llm`` table, key-shaped strings (or values of the
    environment's key variables) and URLs with a user name or password anywhere (but
    the run store's URL, whose password is hidden when stored) are refused; their
    values are never shown.
    """
    secrets = known_secrets()
    problems: list[str] = []
    locs: set[str] = set()

    def walk(value: Any, loc: str, in_llm: bool) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                key = scrub(str(k))  # a key can hold a secret too: it is shown as a location
                sub = f"{loc}.{key}" if loc else key
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
        elif isinstance(value, str) and loc != "store" and _has_credentials(value):
            problems.append(f"{loc}: {_URL_HELP}")
            locs.add(loc)

    walk(raw, "", False)
    return problems, locs


def _has_credentials(text: str) -> bool:
    """Whether ``text`` is a URL with a user name or password (``http://user:pw@host``)."""
    if "@" not in text or "://" not in text:
        return False
    try:
        parts = urlsplit(text.strip())
        return bool(parts.username or parts.password)
    except ValueError:  # a malformed URL (a bad port, brackets): not one the LLM client would read either
        return False


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
        loc = scrub(".".join(names)) or "(top level)"
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
    for loc, msgs in list(grouped.items())[:_MAX_LINES]:
        holds_secret = any(s == loc or s.startswith(f"{loc}.") for s in skip)
        shown = f" = {show(values[loc])}" if loc in values and not isinstance(values[loc], Mapping) \
            and not holds_secret else ""
        lines.append(f"{loc}{shown}: {' or '.join(msgs)}")
    if len(grouped) > _MAX_LINES:
        lines.append(f"(and {len(grouped) - _MAX_LINES} more problems of the same settings)")
    return lines


def task_problems(task: Any) -> list[str]:
    """What an import shows: unknown task names or options, missing workflow functions, bad data files."""
    from agents.workflow import is_workflow
    from tasks.registry import is_registered, load_target, task_class, task_names

    problems: list[str] = []
    if task.name is not None:
        if not is_registered(task.name):
            return [f"task.name = {task.name!r}: unknown task; registered: {', '.join(task_names())}"]
        try:
            cls = task_class(task.name)
        except Exception as e:  # noqa: BLE001 - an import error of the task's module
            return [f"task.name = {task.name!r}: its module cannot be imported: {type(e).__name__}: {e}"]
        return _option_problems(cls, task)
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
        if not (is_workflow(obj) if field == "workflow" else callable(obj)):
            what = "a function, a Module (with forward) or a class making one" if field == "workflow" else \
                "a function (example, output) -> score or Feedback"
            problems.append(f"task.{field} = {target!r}: not callable; give {what}")
    for field in ("train", "val"):
        try:
            load_examples(getattr(task, field))
        except ConfigError as e:
            problems.append(f"task.{field}: {e}")
    return problems


def _option_problems(cls: Any, task: Any) -> list[str]:
    """``task.options`` checked against the task's ``Options`` model (or its constructor's keywords)."""
    model = getattr(cls, "Options", None)
    params = list(model.model_fields) if model is not None else init_parameters(cls)
    unknown = [scrub(str(opt)) for opt in task.options if params is not None and opt not in params]
    problems = [f"task.options.{opt}: not an option of task {task.name!r}; allowed: {', '.join(params or ()) or '(none)'}"
                for opt in unknown]
    if model is not None:
        try:
            model.model_validate(task.options)
        except ValidationError as e:
            problems += [f"task.options.{line}" for line in pydantic_problems(e, model, skip=set(unknown))]
    return problems


#: constructor arguments the run fills in, and where they come from instead
_SET_BY_RUN = {"parameters": "the task's parameters", "llm": "the job's [llm]", "seed": "the job's seed",
               "direction": "the task", "vocabulary": "the task"}


def optimizer_problems(optimizer: Any) -> list[str]:
    """Options the optimizer's class does not take (read from its signature) or of the wrong type."""
    if not optimizer.options:
        return []
    if optimizer.custom:
        from tasks.registry import load_target

        try:
            classes = [load_target(optimizer.name)]
        except Exception as e:  # noqa: BLE001 - ConfigError, or user code failing on import
            return [f"optimizer.name = {optimizer.name!r}: {e}"]
        reserved = {"parameters"}
    else:
        from optimizers import OptoPrime, Search
        from optimizers.registry import optimizer_class

        try:  # "default" takes what Search or OptoPrime takes
            classes = [Search, OptoPrime] if optimizer.name == "default" else [optimizer_class(optimizer.name)]
        except ConfigError as e:  # a third-party optimizer that cannot be loaded
            return [f"optimizer.name = {optimizer.name!r}: {e}"]
        reserved = set(_SET_BY_RUN)
    accepted: dict[str, Any] = {}
    for cls in classes:
        params = init_parameters(cls)
        if params is None:
            return []  # takes **options: nothing to check here
        hints = _hints(cls)
        accepted.update({n: hints.get(n, Any) for n in params if n not in reserved and n not in accepted})
    problems = []
    for key, value in optimizer.options.items():
        loc = f"optimizer.options.{key}"
        if key in reserved:
            problems.append(f"{loc}: set by the run ({_SET_BY_RUN.get(key, 'the job')}); remove it here")
        elif key not in accepted:
            problems.append(f"{loc}: not an option of the {optimizer.name} optimizer; accepted: "
                            f"{', '.join(sorted(accepted)) or '(none)'}")
        else:
            problem = _type_problem(accepted[key], value)
            if problem:
                problems.append(f"{loc} = {show(value)}: {problem}")
    return problems


def _hints(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__ if isinstance(cls, type) else cls)
    except Exception:  # noqa: BLE001 - names only defined for type checkers: check the names, not the types
        return {}


def _type_problem(annotation: Any, value: Any) -> str | None:
    from pydantic import ConfigDict, TypeAdapter

    try:
        adapter = TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:  # noqa: BLE001 - a type pydantic cannot check
        return None
    try:
        adapter.validate_python(value)
    except ValidationError as e:
        return "; ".join(dict.fromkeys(err["msg"] for err in e.errors(include_url=False)))
    return None


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


_OTHER_LIMITS = ("max_steps", "max_evaluations", "max_tokens", "max_calls", "max_seconds")


def price_problems(model: str, budget: Any) -> list[str]:
    """``max_usd`` on a model of unknown price: a warning, or a problem when it is the job's only limit
    (the run would have no limit at all)."""
    from trace_core.llm._litellm import price_known

    if budget.max_usd is None or model.startswith(("scripted:", "replay:")) or price_known(model):
        return []
    text = (f"budget.max_usd = {budget.max_usd:g}: the price of {model!r} is unknown (litellm's cost map has no "
            "entry for it), so its dollars cannot be counted")
    if not any(getattr(budget, name) is not None for name in _OTHER_LIMITS):
        return [f"{text}; add a limit that can be counted (max_calls, max_tokens or max_steps)"]
    log.warning("%s; the job's other limits still apply", text)
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

