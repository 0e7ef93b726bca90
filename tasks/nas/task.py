"""The ``nas`` task: search the architecture of an MLP classifier.

``mode="json"`` (default): the parameter ``architecture`` is an
:class:`~tasks.nas.schema.Architecture` (a ``Json`` space Search can sample).
``mode="code"``: it is the source of ``def build(in_features, n_classes)`` returning a
``torch.nn.Module`` (a ``Code`` space, for LLM optimizers); the code runs with
``torch``, ``nn``, ``F`` and ``math`` available.

Training settings are fixed options. The score is the validation accuracy after the
last epoch (maximize); metrics add the parameter count and the latency of one
forward batch. An architecture that does not validate, build or fit the data, or
whose parameter count is over ``max_params``, is a scored failure (score ``None``,
no training) whose text says why; a violation of ``max_params`` is never trained.
In code mode the build code is proposed code: it is built, trained and measured in
the sandbox (``trace_core._sandbox``; a child process that returns the metrics as
JSON data), and one call into it that runs past ``code_timeout`` is stopped (a
scored failure).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trace_core import Parameter, bundle
from trace_core._sandbox import Limits, Sandbox, SandboxError
from trace_core.errors import ConfigError, InvalidProposal, Pruned
from trace_core.feedback import Feedback
from trace_core.spaces import Code, Json, Space

from pydantic import Field

from tasks._torch.adapter import Failed, TabularOptions, TabularTask, call_pruning, output_feedback, record_feedback
from tasks._torch.data import TabularData
from tasks._torch.train import OPTIMIZERS, TrainRecord, count_parameters, latency_ms, seeded_build, train_model
from tasks.base import multi_objective_option, one_of
from tasks.nas.build import ArchitectureError, CodeTimeout, check_output, compile_build, from_layers, time_limit
from tasks.nas.schema import Architecture

__all__ = ["NASTask", "NASResult", "DEFAULT_BUILD", "build_and_train"]

#: the objectives ``multi_objective=True`` declares
OBJECTIVES = {"val_acc": "maximize", "n_params": "minimize"}

DEFAULT_BUILD = '''def build(in_features, n_classes):
    """Return a torch.nn.Module mapping (batch, in_features) floats to (batch, n_classes) logits."""
    return nn.Sequential(
        nn.Linear(in_features, 64), nn.ReLU(),
        nn.Linear(64, 64), nn.ReLU(),
        nn.Linear(64, n_classes),
    )
'''


@dataclass(frozen=True)
class NASResult:
    """A trained architecture: its training record, size, latency and a short summary.

    Example:
        >>> from tasks._torch.train import TrainRecord
        >>> NASResult(TrainRecord(1, "cpu"), 100, 0.1, "16 relu -> linear head").n_params
        100
    """

    record: TrainRecord
    n_params: int
    latency_ms: float
    summary: str

    def __repr__(self) -> str:
        return f"NASResult({self.record!r}, params={self.n_params}, latency={self.latency_ms:.3f}ms)"


@dataclass(frozen=True)
class _Setup:
    data: TabularData
    space: Space
    train: Mapping[str, Any]
    max_params: int | None
    latency_batch: int
    device: str
    threads: int | None
    on_epoch: Any
    code_timeout: float | None = None
    sandbox_timeout: float = 600.0
    isolation: str | None = None

    def __repr__(self) -> str:
        limit = "" if self.max_params is None else f", max_params={self.max_params}"
        return f"Setup({self.data!r}, device={self.device!r}{limit})"


def _describe(arch: Architecture) -> str:
    parts = []
    for layer in arch.layers[: arch.n_layers]:
        extra = [x for x in (f"{layer.norm} norm" if layer.norm != "none" else "",
                             f"dropout {layer.dropout:g}" if layer.dropout else "", "skip" if layer.skip else "") if x]
        parts.append(f"{layer.width} {layer.activation}" + (f" ({', '.join(extra)})" if extra else ""))
    return " -> ".join(parts) + " -> linear head"


def _build(value: Any, setup: _Setup, seed: int) -> tuple[Any, str]:
    d = setup.data
    try:
        clean = setup.space.validate(value)
    except InvalidProposal as e:
        raise ArchitectureError(f"the architecture is invalid: {e}") from None
    with seeded_build(seed):
        if isinstance(clean, Architecture):
            layers = [layer.model_dump() for layer in clean.layers[: clean.n_layers]]
            return from_layers(layers, d.n_features, d.n_classes), _describe(clean)
        build = compile_build(clean)
        try:
            model = build(d.n_features, d.n_classes)
        except Exception as e:  # noqa: BLE001 - the proposal's failure
            raise ArchitectureError(f"build({d.n_features}, {d.n_classes}) raised {type(e).__name__}: {e}") from None
    check_output(model, d.n_features, d.n_classes)
    return model, f"build() returning {type(model).__name__}"


def _build_and_train(architecture: Any, seed: int, setup: _Setup) -> Any:
    try:
        model, summary = _build(architecture, setup, seed)
    except ArchitectureError as e:
        return Failed("invalid", str(e))
    n_params = count_parameters(model)
    if setup.max_params is not None and n_params > setup.max_params:
        return Failed(
            "param_limit",
            f"the architecture ({summary}) has {n_params:,} parameters, over the limit of {setup.max_params:,}; "
            "use fewer or narrower layers",
            metrics={"n_params": n_params},
        )
    try:
        record = train_model(model, setup.data, seed=seed, device=setup.device, threads=setup.threads,
                             on_epoch=setup.on_epoch, **setup.train)
        latency = latency_ms(model, setup.data.n_features, batch_size=setup.latency_batch, device=setup.device)
    except Pruned:
        raise
    except Exception as e:  # noqa: BLE001 - e.g. a custom module that fails in training mode
        return Failed("error", f"training failed: {type(e).__name__}: {e}", metrics={"n_params": n_params})
    return NASResult(record, n_params, latency, summary)


def _limited_build_and_train(architecture: Any, seed: int, setup: _Setup) -> Any:
    try:
        with time_limit(setup.code_timeout):
            return _build_and_train(architecture, seed, setup)
    except CodeTimeout as e:
        return Failed("timeout", f"stopped: {e}")


def _child_build_and_train(source: str, seed: int, setup: _Setup) -> dict[str, Any]:
    """In the sandbox child: build, train and measure ``build()`` code; the outcome as JSON data."""
    out = _limited_build_and_train(source, seed, setup)
    if isinstance(out, Failed):
        return {"failed": out.kind, "reason": out.reason, "metrics": out.metrics}
    return {"record": dataclasses.asdict(out.record), "n_params": out.n_params, "latency_ms": out.latency_ms,
            "summary": out.summary}


def _sandboxed_build_and_train(source: Any, seed: int, setup: _Setup) -> Any:
    try:
        source = setup.space.validate(source)  # checked here: an invalid proposal starts no child
    except InvalidProposal as e:
        return Failed("invalid", f"the architecture is invalid: {e}")
    # CUDA reserves far more address space than it uses: no address-space limit on a GPU
    memory = None if str(setup.device).startswith("cuda") else 4 * 1024**3
    sandbox = Sandbox(setup.isolation, limits=Limits(timeout=setup.sandbox_timeout, memory=memory))
    try:
        data = sandbox.run(_child_build_and_train, source, seed, dataclasses.replace(setup, on_epoch=None))
    except SandboxError as e:
        kind = {"timeout": "timeout", "invalid": "invalid"}.get(e.verdict, "error")
        return Failed(kind, f"in the sandbox: {e}")
    if "failed" in data:
        return Failed(data["failed"], data["reason"], metrics=data["metrics"])
    result = NASResult(TrainRecord(**data["record"]), data["n_params"], data["latency_ms"], data["summary"])
    if setup.on_epoch is not None:  # the curve is reported after the fact: the child cannot be pruned early
        for epoch, acc in enumerate(result.record.val_acc, 1):
            setup.on_epoch(epoch, acc)
    return result


@bundle
def build_and_train(architecture: Any, seed: int, setup: _Setup) -> Any:
    """Build the classifier the architecture describes (an Architecture JSON, or build() code), check
    that it maps the features to class logits and fits the parameter limit, train it briefly and
    measure its forward latency; returns the result, or why it could not be trained. build() code
    runs in a sandbox, and is stopped when it runs too long in one call (an endless loop)."""
    if isinstance(setup.space, Code):
        return _sandboxed_build_and_train(architecture, seed, setup)
    return _limited_build_and_train(architecture, seed, setup)


class NASTask(TabularTask):
    """Search an MLP classifier's architecture on a scikit-learn dataset (or your ``X``, ``y``).

    Args:
        dataset: a scikit-learn dataset name (see :class:`~tasks._torch.adapter.TabularTask`).
        mode: ``"json"`` (an :class:`Architecture`) or ``"code"`` (``build()`` source).
        max_params: parameter-count limit; a larger architecture is a scored failure.
        epochs, lr, weight_decay, batch_size, optimizer: the fixed training settings.
        latency_batch: batch size of the latency measurement.
        code_timeout: in code mode, seconds one call into the build code (defining it,
            ``build()``, a ``forward`` it defines) may run; past it the run is a scored
            failure (an endless loop). None: no limit.
        sandbox_timeout: in code mode, seconds the sandbox child may take to build, train
            and measure (the limit of the whole evaluation).
        isolation: in code mode, the sandbox's isolation level (``"namespaces"``,
            ``"process"``; None: the best available). See ``docs/sandbox.md``.
        initial: the starting architecture (a dict / Architecture, or source in code mode).
        multi_objective: also minimize the parameter count (objectives ``val_acc``, ``n_params``).
        **data: ``X``, ``y``, ``seeds``, ``val_seeds``, ``val_fraction``, ``split_seed``,
            ``max_train``, ``device``, ``threads`` (see ``TabularTask``).

    Example:
        >>> from trace_core import using
        >>> task = NASTask("wine", epochs=2)
        >>> with using({"architecture": {"n_layers": 9}}):
        ...     fb = task.evaluate(0, task.run(0))
        >>> fb.failed
        True
    """

    name = "nas"
    direction = "maximize"
    natural_objectives = OBJECTIVES
    description = (
        "Design the architecture of a PyTorch classifier for a tabular dataset to maximize validation "
        "accuracy after a short, fixed training; feedback also gives its parameter count and latency."
    )

    class Options(TabularOptions):
        mode: one_of(("json", "code")) = Field("json", description="json: an Architecture; code: build() source")
        max_params: int | None = Field(None, ge=1, description="parameter-count limit (larger: a scored failure)")
        epochs: int = Field(10, ge=1, le=100_000, description="training epochs")
        lr: float = Field(1e-3, gt=0, description="learning rate")
        weight_decay: float = Field(1e-4, ge=0, description="L2 weight decay")
        batch_size: int = Field(64, ge=1, description="minibatch size")
        optimizer: one_of(OPTIMIZERS) = Field("adam", description="training optimizer")
        latency_batch: int = Field(256, ge=1, description="batch size of the latency measurement")
        code_timeout: float | None = Field(30.0, gt=0, description="seconds one call into build code may run "
                                           "(code mode); none: no limit")
        sandbox_timeout: float = Field(600.0, gt=0, description="seconds the sandboxed child may take to build, "
                                       "train and measure one architecture (code mode)")
        isolation: one_of(("namespaces", "process")) | None = Field(
            None, description="the sandbox's isolation level in code mode; none: the best this machine has")
        initial: Any = Field(None, description="the starting architecture (a table, or source in code mode)")
        multi_objective: bool = multi_objective_option(OBJECTIVES)

    def __init__(
        self,
        dataset: str = "digits",
        *,
        mode: str = "json",
        max_params: int | None = None,
        epochs: int = 10,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 64,
        optimizer: str = "adam",
        latency_batch: int = 256,
        code_timeout: float | None = 30.0,
        sandbox_timeout: float = 600.0,
        isolation: str | None = None,
        initial: Any = None,
        multi_objective: bool = False,
        **data: Any,
    ) -> None:
        train = dict(epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size, optimizer=optimizer)
        extra = dict(mode=mode, max_params=max_params, latency_batch=latency_batch, code_timeout=code_timeout,
                     sandbox_timeout=sandbox_timeout, isolation=isolation, initial=initial,
                     **({"multi_objective": True} if multi_objective else {}), **train)
        super().__init__(dataset, extra=extra, **data)
        if mode not in ("json", "code"):
            raise ConfigError(f"mode must be 'json' or 'code', got {mode!r}")
        if mode == "json":
            space: Space = Json(Architecture)
            value, help_ = Architecture() if initial is None else initial, "the classifier's hidden layers"
        else:
            space = Code(name="build", args=["in_features", "n_classes"])
            value, help_ = DEFAULT_BUILD if initial is None else initial, (
                "build(in_features, n_classes) returns the torch.nn.Module classifier (torch, nn, F, math available)"
            )
        try:
            self._param = Parameter(value, name="architecture", space=space, description=help_)
        except InvalidProposal as e:
            raise ConfigError(f"the initial architecture is invalid: {e}") from None
        self._train = train

    def parameters(self) -> list[Parameter]:
        return [self._param]

    def run(self, example: Any) -> Any:
        """Build and train the current architecture (honouring ``using``) on seed ``example``."""
        o = self.options
        timeout = o["code_timeout"] if o["mode"] == "code" else None
        setup = _Setup(self.data, self._param.space, self._train, o["max_params"], o["latency_batch"],
                       o["device"], o["threads"], self._on_epoch, timeout, o["sandbox_timeout"], o["isolation"])
        return call_pruning(build_and_train, self._param, seed=int(example or 0), setup=setup)

    def evaluate(self, example: Any, output: Any) -> Feedback:
        value = getattr(output, "value", output)
        if isinstance(value, NASResult):
            pre = (f"architecture: {value.summary}; {value.n_params:,} parameters; "
                   f"{value.latency_ms:.3f} ms per forward batch of {self.options['latency_batch']}")
            return record_feedback(value.record, n_classes=self.data.n_classes, preamble=pre,
                                   metrics={"n_params": value.n_params, "latency_ms": value.latency_ms})
        return output_feedback(value, n_classes=self.data.n_classes)
