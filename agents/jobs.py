"""Job files: what an unattended (nightly) tuning run does, in TOML or YAML.

A job names its task (a registered task with options, or ``module:function`` user
code with its feedback function and data), the optimizer, the LLM (model string and
``api_base``; keys come only from the environment), the budget, ``k``, executor,
store, seed, an optional target score and where the report goes. :func:`load_job`
validates everything before anything runs and lists every problem at once
(field, value, what is allowed) in one :class:`JobError`.

Relative paths in a job file (store, report, data files, ``scripted:`` replies) are
relative to the job file's folder, and that folder is importable, so a workflow
module can sit next to its job file. The job's ``name`` is its ``job_key`` in the run
store: warm starts and regression checks compare runs of the same name.

Example:
    >>> job = parse_job({"name": "demo", "task": {"name": "numeric"}, "budget": {"max_steps": 3}})
    >>> job.budget.max_steps, job.optimizer.spec()
    (3, {'name': 'default'})
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from agents._job_checks import (
    JobError,
    init_parameters,
    llm_problems,
    price_problems,
    optimizer_problems,
    pydantic_problems,
    secret_problems,
    task_problems,
)
from agents._job_objectives import objective_problems
from optimizers.registry import is_registered, optimizer_names
from trace_core import Budget
from trace_core.errors import ConfigError

__all__ = ["Job", "TaskSpec", "OptimizerSpec", "LLMSpec", "JobBudget", "JobError", "load_job", "parse_job",
           "TEST_LLM_PREFIXES"]

_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
#: model strings that are test hooks, not provider models: ``scripted:<replies.json>``, ``replay:<calls.jsonl>``
TEST_LLM_PREFIXES = ("scripted:", "replay:")


def _base_dir(info: ValidationInfo) -> Path:
    return Path((info.context or {}).get("base_dir") or ".")


def _absolute(value: str, info: ValidationInfo) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (_base_dir(info) / path).resolve())


#: what NumPy and torch accept as a seed
MAX_SEED = 2**32 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TaskSpec(_Strict):
    """A registered task (``name`` + ``options``) or user code (``workflow`` + ``feedback`` + data).

    Example:
        >>> TaskSpec(name="numeric", options={"delay": 0.0}).spec()
        {'name': 'numeric', 'options': {'delay': 0.0}}
    """

    name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    workflow: str | None = None
    feedback: str | None = None
    train: list[Any] | str | None = None
    val: list[Any] | str | None = None
    direction: Literal["maximize", "minimize"] = "maximize"
    #: several objectives, constraints and a reference point (see agents._job_objectives)
    objectives: dict[str, Literal["maximize", "minimize"]] | None = None
    constraints: list[str] = Field(default_factory=list)
    reference_point: list[float] | dict[str, float] | None = None

    @field_validator("objectives")
    @classmethod
    def _some_objective(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and not value:
            raise ValueError('name at least one metric, e.g. { val_acc = "maximize" }')
        return value

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, value: list[str]) -> list[str]:
        from trace_core.objectives import Constraint

        return [str(Constraint.parse(c)) for c in value]

    @field_validator("workflow", "feedback")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None and not _TARGET.match(value):
            raise ValueError("write it as 'package.module:function'")
        return value

    @field_validator("train", "val")
    @classmethod
    def _data_path(cls, value: Any, info: ValidationInfo) -> Any:
        return _absolute(value, info) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> TaskSpec:
        if (self.name is None) == (self.workflow is None):
            raise ValueError("give either 'name' (a registered task; `tracetune tasks` lists them) or "
                             "'workflow' and 'feedback' ('module:function' of your code)")
        if self.workflow is not None and self.feedback is None:
            raise ValueError("a 'workflow' needs 'feedback' = 'module:function' returning a score or Feedback")
        if self.name is not None and (self.feedback or self.train is not None or self.val is not None):
            raise ValueError("'feedback', 'train' and 'val' belong to a 'workflow' task; a registered task "
                             "takes 'options'")
        return self

    def spec(self) -> dict[str, Any]:
        """The spec :func:`agents.factory.build_task_from_spec` builds a task from."""
        several = {k: v for k, v in (("objectives", self.objectives), ("constraints", self.constraints or None),
                                     ("reference_point", self.reference_point)) if v is not None}
        if self.name is not None:
            return {"name": self.name, "options": dict(self.options), **several}
        from agents._job_checks import load_examples

        return {"workflow": self.workflow, "feedback": self.feedback, "direction": self.direction,
                "train": load_examples(self.train), "val": load_examples(self.val), **several}


class OptimizerSpec(_Strict):
    """``name`` (default, search, optoprime, opro, evolution, or ``module:Class`` of your own) and options.

    Example:
        >>> OptimizerSpec.model_validate("search:cmaes").spec()
        {'name': 'search', 'sampler': 'cmaes'}
    """

    name: str = "default"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):  # optimizer = "search:cmaes"
            name, _, sampler = data.partition(":")
            if is_registered(name):
                return {"name": name, "options": {"sampler": sampler} if sampler else {}}
            return {"name": data}
        return data

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if is_registered(value):  # an entry point's own spelling
            return value
        if is_registered(value.lower()):
            return value.lower()
        if _TARGET.match(value):
            return value
        raise ValueError(f"use one of {', '.join(optimizer_names())} or 'package.module:OptimizerClass'")

    @property
    def custom(self) -> bool:
        return ":" in self.name

    def spec(self) -> dict[str, Any]:
        """The spec ``optimize(optimizer=...)`` takes (built-in optimizers only)."""
        return {"name": self.name, **self.options}


class LLMSpec(_Strict):
    """The LLM: a litellm model string (``openai/gpt-4o-mini``, ``ollama/llama3.1`` ...) and its settings.

    ``scripted:<file.json>`` (replies for :class:`~trace_core.llm.ScriptedLLM`) and
    ``replay:<calls.jsonl>`` (a :class:`~trace_core.llm.ReplayLLM` recording) run
    without any model, for tests and demos. Keys are never read from the file.

    Example:
        >>> LLMSpec.model_validate({"model": "openai/gpt-4o-mini", "params": {"temperature": 0}}).settings()
        {'model': 'openai/gpt-4o-mini', 'temperature': 0}
    """

    model: str = Field(min_length=1)
    api_base: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    cache: bool | str | None = None
    retry: dict[str, Any] | bool | None = None
    max_concurrency: int | None = Field(default=None, ge=1)
    log_path: str | None = None
    structured_output: bool | Literal["auto"] | None = None  # "auto": sent until the server refuses it once
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"model": data} if isinstance(data, str) else data

    @field_validator("model")
    @classmethod
    def _hook_path(cls, value: str, info: ValidationInfo) -> str:
        for prefix in TEST_LLM_PREFIXES:
            if value.startswith(prefix):
                return prefix + _absolute(value[len(prefix):], info)
        return value

    @field_validator("log_path")
    @classmethod
    def _log_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _absolute(value, info)

    @property
    def is_test_hook(self) -> bool:
        return self.model.startswith(TEST_LLM_PREFIXES)

    def build(self) -> Any:
        """The LLM object (not yet wrapped with the run's budget; ``optimize`` does that)."""
        from trace_core.llm import ReplayLLM, ScriptedLLM, resolve_llm

        if self.model.startswith("scripted:"):
            from agents._job_checks import scripted_replies

            return ScriptedLLM(scripted_replies(self.model[len("scripted:"):]), model="scripted")
        if self.model.startswith("replay:"):
            return ReplayLLM(self.model[len("replay:"):])
        return resolve_llm(self.settings())

    def settings(self) -> dict[str, Any]:
        """The mapping :func:`trace_core.llm.resolve_llm` takes."""
        out = self.model_dump(exclude={"params"}, exclude_none=True)
        return {**out, **self.params}


class JobBudget(Budget):
    """The job's limits (a :class:`~trace_core.Budget` that rejects unknown keys).

    Example:
        >>> JobBudget(max_steps=5).max_steps
        5
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class Job(_Strict):
    """One tuning job, as read from a job file. See the module docstring.

    Example:
        >>> job = parse_job({"name": "demo", "task": {"name": "numeric"}, "optimizer": "search"})
        >>> [p.name for p in job.build_task().parameters()], job.make_budget().max_steps
        (['x', 'y'], 10)
    """

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    task: TaskSpec
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    llm: LLMSpec | None = None
    budget: JobBudget = Field(default_factory=lambda: JobBudget(max_steps=10))
    k: int = Field(default=1, ge=1, le=64)
    executor: str = "thread"  # serial, thread, process, ray, or one a package registers
    workers: int | None = Field(default=None, ge=1, le=4096)
    timeout: float | None = Field(default=None, gt=0)
    minibatch: int | None = Field(default=8, ge=1)
    store: str | None = None
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    target: float | None = None
    report: str | None = None
    warm_start: bool = False
    evaluate_start: bool = True  # False: the first evaluation is the optimizer's first proposal (Search = Optuna)
    fail_on_regression: float | None = Field(default=None, ge=0)
    base_dir: str = "."

    @field_validator("executor")
    @classmethod
    def _executor(cls, value: str) -> str:
        from agents.executors import EXECUTORS

        if value not in EXECUTORS:
            raise ValueError(f"use one of {', '.join(EXECUTORS.names())}")
        return value

    @field_validator("store")
    @classmethod
    def _store(cls, value: str | None, info: ValidationInfo) -> str | None:
        return value if value is None or "://" in value else _absolute(value, info)

    @field_validator("report")
    @classmethod
    def _report(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _absolute(value, info)

    @field_validator("budget")
    @classmethod
    def _some_limit(cls, value: JobBudget) -> JobBudget:
        if all(getattr(value, f) is None for f in Budget.model_fields):
            raise ValueError("set at least one limit (max_steps, max_evaluations, max_tokens, max_usd, max_calls, "
                             "max_seconds) so an unattended run ends")
        return value

    def make_budget(self) -> Budget:
        """A fresh :class:`~trace_core.Budget` with the job's limits."""
        return Budget(**self.budget.model_dump())

    def importable(self) -> None:
        """Make the job file's folder importable (for ``workflow`` and custom optimizers)."""
        if self.base_dir not in sys.path:
            sys.path.insert(0, self.base_dir)

    def build_task(self) -> Any:
        """The task object (imports user code; errors become :class:`ConfigError`)."""
        from agents.factory import build_task_from_spec

        self.importable()
        return build_task_from_spec(self.task.spec())

    def build_optimizer(self, task: Any, llm: Any) -> Any:
        """A spec for built-in optimizers, or an instance of a custom ``module:Class``."""
        if not self.optimizer.custom:
            return self.optimizer.spec()
        from tasks.registry import load_target

        self.importable()
        cls = load_target(self.optimizer.name)
        if not callable(cls):
            raise ConfigError(f"optimizer {self.optimizer.name!r} is not a class or function "
                              f"(its type is {type(cls).__name__})")
        options = dict(self.optimizer.options)
        if llm is not None and not isinstance(llm, str) and "llm" in (init_parameters(cls) or ()):
            options.setdefault("llm", llm)
        try:
            return cls(task.parameters(), **options)
        except TypeError as e:
            raise ConfigError(f"optimizer {self.optimizer.name!r} rejected its options "
                              f"{sorted(self.optimizer.options)}: {e}") from None

    def stored(self) -> dict[str, Any]:
        """The job as JSON, kept in the run's config so ``tracetune resume`` rebuilds it
        (a password in the store URL is hidden: resume is told where the store is)."""
        data = self.model_dump(mode="json")
        if self.store and "://" in self.store:
            import sqlalchemy as sa

            data["store"] = sa.engine.make_url(self.store).render_as_string(hide_password=True)
        return data


def parse_job(data: Mapping[str, Any], *, source: str = "<job>", base_dir: str | Path = ".",
              default_name: str | None = None) -> Job:
    """Validate a job given as a mapping; raises :class:`JobError` listing every problem."""
    if not isinstance(data, Mapping):
        raise JobError(source, [f"(top level): expected a table of settings, got {type(data).__name__}"])
    base = Path(base_dir).resolve()
    raw = dict(data)
    raw.setdefault("name", default_name)
    if raw["name"] is None:
        raw.pop("name")
    raw["base_dir"] = str(base)
    problems, secret_locs = secret_problems(raw)
    job: Job | None = None
    try:
        job = Job.model_validate(raw, context={"base_dir": base})
    except ValidationError as e:
        problems += pydantic_problems(e, Job, skip=secret_locs)
    task = job.task if job else _part(TaskSpec, raw.get("task"), base)
    llm = job.llm if job else _part(LLMSpec, raw.get("llm"), base)
    optimizer = job.optimizer if job else _part(OptimizerSpec, raw.get("optimizer", {}), base)
    if ((task is not None and task.workflow) or (optimizer is not None and optimizer.custom)) \
            and str(base) not in sys.path:
        sys.path.insert(0, str(base))  # user code next to the job file
    if task is not None:
        problems += task_problems(task) + objective_problems(task)
    if llm is not None:
        problems += llm_problems(llm)
    if optimizer is not None:
        problems += optimizer_problems(optimizer)
    if job is not None and llm is not None:
        problems += price_problems(llm.model, job.budget)
    if problems:
        raise JobError(source, problems)
    assert job is not None
    return job


def _part(model: type[BaseModel], value: Any, base: Path) -> Any:
    if value is None:
        return None
    try:
        return model.model_validate(value, context={"base_dir": base})
    except ValidationError:
        return None  # already reported by the whole-job validation


def load_job(path: str | Path) -> Job:
    """Read and validate a job file (``.toml``, ``.yaml`` / ``.yml`` or ``.json``)."""
    from agents._job_files import read_job_file

    path = Path(path)
    data = read_job_file(path)
    return parse_job(data, source=str(path), base_dir=path.parent, default_name=path.stem)
