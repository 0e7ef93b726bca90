"""The Task protocol: what a problem tells the loop and the optimizers.

A task owns its parameters (with spaces), its data (examples, configurations or
seeds), a traced ``run`` on one example and an ``evaluate`` that turns the output
into :class:`~trace_core.Feedback`. A failure on one example is a Feedback with
the reason (``Feedback.failure``); only a systemic failure raises ``TaskError``.

A task declares its options as a pydantic model, ``Options`` (a :class:`TaskOptions`
whose fields are the constructor's keyword arguments): unknown options and invalid
values are refused when the task is built, and job files are checked against it
before anything runs. :func:`describe_options` lists them with their allowed values.

Evaluations may report intermediate values with :func:`report`; when the loop
installed a reporter that decides to prune, :func:`report` raises
:class:`~trace_core.errors.Pruned`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Protocol, runtime_checkable

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from trace_core.errors import ConfigError, Pruned
from trace_core.feedback import Direction, Feedback

__all__ = ["Task", "BaseTask", "SeededTask", "TaskOptions", "Seed", "one_of", "multi_objective_option",
           "check_options", "option_problems", "describe_options", "Reporter", "report", "reporting", "Pruned"]

_MAX_LINES = 30  # problems listed at once; a wrong array could give thousands

#: a random seed (what NumPy and torch accept)
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class TaskOptions(BaseModel):
    """Base of a task's ``Options``: unknown options are refused, numbers must be finite.

    Example:
        >>> class Options(TaskOptions):
        ...     size: int = Field(3, ge=1, description="how many")
        >>> option_problems(Options, {"size": 0, "colour": "red"})
        ['size = 0: Input should be greater than or equal to 1', 'colour: not an option; allowed: size']
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=True)


def one_of(values: Sequence[str], hint: str = "") -> Any:
    """A text option that must be one of ``values`` (``hint`` ends the error message)."""
    allowed = tuple(values)

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"use one of {', '.join(allowed)}{hint}")
        return value

    return Annotated[str, AfterValidator(check), Field(json_schema_extra={"enum": list(allowed)})]


def multi_objective_option(objectives: Mapping[str, Direction]) -> Any:
    """The ``multi_objective`` option of a task whose second objective is opt-in: False (the
    default) keeps the task single-objective; True declares ``objectives``."""
    aims = ", ".join(f"{sense} {name}" for name, sense in objectives.items())
    return Field(False, description=f"optimize several objectives ({aims}) instead of the score alone")


def option_problems(options_model: type[BaseModel], options: Mapping[str, Any]) -> list[str]:
    """One line per problem with ``options`` (``name = value: what is allowed``); empty when valid."""
    try:
        options_model.model_validate(dict(options))
    except ValidationError as e:
        lines = []
        errors = e.errors(include_url=False)
        for err in errors[:_MAX_LINES]:
            loc = ".".join(str(p) for p in err["loc"]) or "(options)"
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(options_model.model_fields) or "(none)"
                lines.append(f"{loc}: not an option; allowed: {allowed}")
                continue
            shown = "" if isinstance(err.get("input"), Mapping) or "input" not in err else f" = {_short(err['input'])}"
            lines.append(f"{loc}{shown}: {err['msg'].removeprefix('Value error, ')}")
        if len(errors) > _MAX_LINES:
            lines.append(f"(and {len(errors) - _MAX_LINES} more)")
        return lines
    return []


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_options(task_cls: type, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` validated against ``task_cls.Options`` (values coerced: ``"0.1"`` -> ``0.1``);
    raises :class:`ConfigError` listing every problem. Tasks without ``Options`` pass through."""
    model = getattr(task_cls, "Options", None)
    if model is None:
        return dict(options)
    problems = option_problems(model, options)
    if problems:
        name = getattr(task_cls, "name", task_cls.__name__)
        raise ConfigError(f"invalid options for task {name!r}: {'; '.join(problems)} "
                          f"(`tracetune tasks {name}` lists the options)")
    clean = model.model_validate(dict(options))
    return {k: getattr(clean, k) for k in options}


def describe_options(options_model: type[BaseModel] | None) -> list[dict[str, Any]]:
    """Each option: ``name``, ``allowed`` (in words), ``default`` and ``help``.

    Example:
        >>> class Options(TaskOptions):
        ...     mode: one_of(["fast", "slow"]) = Field("fast", description="speed")
        >>> describe_options(Options)
        [{'name': 'mode', 'allowed': 'one of fast, slow', 'default': 'fast', 'help': 'speed'}]
    """
    if options_model is None:
        return []
    props = options_model.model_json_schema(mode="validation").get("properties", {})
    out = []
    for name, field in options_model.model_fields.items():
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        default = list(default) if isinstance(default, tuple) else default
        out.append({"name": name, "allowed": _allowed(props.get(name, {})), "default": default,
                    "help": field.description or ""})
    return out


def _num(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


_KINDS = {"integer": "integer", "number": "number", "string": "text", "boolean": "true or false", "object": "table"}


def _allowed(schema: Mapping[str, Any]) -> str:
    """A JSON schema in words: ``integer >= 1``, ``one of a, b``, ``list of number or none``."""
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(dict.fromkeys(_allowed(s) for s in schema["anyOf"]))
    kind = schema.get("type")
    if kind == "null":
        return "none"
    if kind == "array":
        items = schema.get("items") or (schema.get("prefixItems") or [{}])[0]
        low, high = schema.get("minItems"), schema.get("maxItems")
        exact = low is not None and low == high
        text = f"list of {_allowed(items)}" if items else "list"
        return text + (f" (exactly {low})" if exact else f" (at least {low})" if low else "")
    bounds = [f"{op} {_num(schema[key])}" for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                           ("maximum", "<="), ("exclusiveMaximum", "<"))
              if key in schema]
    if "minimum" in schema and "maximum" in schema:
        bounds = [f"from {_num(schema['minimum'])} to {_num(schema['maximum'])}"]
    if "maxLength" in schema:
        bounds.append(f"at most {schema['maxLength']} characters")
    return " ".join([_KINDS.get(kind, "any value") if kind or "$ref" not in schema else "table", " and ".join(bounds)]).strip()


@runtime_checkable
class Task(Protocol):
    """What a problem must provide. See :class:`BaseTask` for a convenient base.

    A multi-objective task also has ``objectives`` (``{"val_acc": "maximize",
    "n_params": "minimize"}``, metric names of ``Feedback.metrics`` in order) and may have
    ``constraints`` (``["n_params <= 1e6"]``, feasible when they hold) and ``reference_point``; all optional
    attributes, read with ``getattr(task, "objectives", None)``, so a task without them is
    single-objective and unchanged. On a multi-objective task ``direction`` is the first
    objective's sense and ``Feedback.score`` is that first objective's value, the number
    shown where one number is shown; Search reads every objective from the metrics, and
    acceptance keeps every non-dominated feasible candidate (the front), not one best.
    """

    name: str
    description: str
    direction: Direction

    def parameters(self) -> list[Any]:
        """The task's Parameters (each with a space and a unique name)."""
        ...

    @property
    def train(self) -> Sequence[Any]:
        """Examples (or configurations, or seeds) the optimizer learns from."""
        ...

    @property
    def val(self) -> Sequence[Any]:
        """Examples candidates are scored on."""
        ...

    def run(self, example: Any) -> Any:
        """Run the workflow on one example, traced; returns a Node (or a value)."""
        ...

    def evaluate(self, example: Any, output: Any) -> Feedback:
        """Score one output. Never raises for a failure on this example."""
        ...


class BaseTask:
    """Defaults for tasks: empty vocabulary, ``spec()`` for process executors.

    Subclasses set ``name``, ``description``, ``direction`` and implement
    ``parameters``, ``run`` and ``evaluate``, and fill ``train`` / ``val``.
    """

    name: str = "task"
    description: str = ""
    direction: Direction = "maximize"
    #: words an evolutionary optimizer's operators may use
    vocabulary: Sequence[str] = ()
    #: ``{"metric": "maximize" | "minimize"}`` for a multi-objective task; None: one objective (``direction``)
    objectives: ClassVar[Mapping[str, Direction] | None] = None
    #: ``"metric >= bound"`` / ``"metric <= bound"`` (or ``(metric, op, bound)``) read from ``Feedback.metrics``
    constraints: ClassVar[Sequence[Any]] = ()
    #: one value per objective (or ``{objective: value}``) that hypervolumes are measured from; None: a rule
    reference_point: ClassVar[Sequence[float] | Mapping[str, float] | None] = None
    #: the objectives the option ``multi_objective=True`` declares (see :func:`multi_objective_option`)
    natural_objectives: ClassVar[Mapping[str, Direction] | None] = None
    #: the options model (see :class:`TaskOptions`); None: options are not checked
    Options: ClassVar[type[BaseModel] | None] = None

    def __init__(self, **options: Any) -> None:
        check_options(type(self), options)
        self.options = dict(options)
        if options.get("multi_objective"):  # opt-in: the task becomes multi-objective
            if not self.natural_objectives:
                raise ConfigError(f"task {self.name!r} has no natural objectives to turn on; set multi_objective "
                                  "to false, or give the optimizer objectives= itself")
            self.objectives = dict(self.natural_objectives)  # type: ignore[misc]

    @property
    def train(self) -> Sequence[Any]:
        return [None]

    @property
    def val(self) -> Sequence[Any]:
        return self.train

    def spec(self) -> dict[str, Any]:
        """How to rebuild this task in another process: registered name and options."""
        return {"name": self.name, "options": dict(self.options)}


class SeededTask(BaseTask):
    """A task whose examples are seeds: ``options["seeds"]`` to learn from and
    ``options["val_seeds"]`` (or the same seeds) to score candidates on."""

    @property
    def train(self) -> list[int]:
        return list(self.options["seeds"])

    @property
    def val(self) -> list[int]:
        seeds = self.options.get("val_seeds")
        return list(seeds) if seeds is not None else self.train


class Reporter(Protocol):
    """Receives intermediate values of one evaluation; raises ``Pruned`` to stop it."""

    def report(self, step: int, value: float) -> None: ...


_reporter: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("tracetune_reporter", default=None)


def report(step: int, value: float) -> None:
    """Report an intermediate value of the running evaluation (e.g. validation accuracy
    after an epoch). Raises :class:`Pruned` when the loop decides to stop it; a no-op
    when nothing listens."""
    reporter = _reporter.get()
    if reporter is not None:
        reporter.report(step, value)


@contextlib.contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Install ``reporter`` for evaluations run in this context."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)
