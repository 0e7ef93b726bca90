"""Adapter side of the torch tasks: training records to Feedback, pruning through traces.

Success: the score is the final validation accuracy, the text holds the condensed
learning curve, observations (overfitting, no convergence…) and the time. A
diverged run or a configuration that could not be trained becomes a scored
failure (score ``None``, ``details['failed']``) whose text says why and what to do.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from trace_core.errors import ConfigError, Pruned, TracedError
from trace_core.feedback import Feedback

from tasks._torch.curve import diagnose, format_curve
from tasks._torch.data import DATASETS, TabularData, load_data
from tasks._torch.train import TrainRecord, resolve_device
from tasks.base import Seed, SeededTask, TaskOptions, one_of, report

__all__ = ["Failed", "TabularTask", "TabularOptions", "record_feedback", "output_feedback", "call_pruning"]

#: ``cpu``, ``cuda`` or ``cuda:N``
DEVICE = r"^(cpu|cuda(:\d+)?)$"


def _rows(value: Any) -> Any:
    """A table given as X or y: a list (or array) of rows; the values are checked by the data
    loader when the task is made, which names the rows at fault (and costs nothing here)."""
    if value is not None and (isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__")):
        raise ValueError(f"give a list of rows, got {type(value).__name__}")
    return value


_TABLE = WithJsonSchema({"anyOf": [{"type": "array"}, {"type": "null"}]})


class TabularOptions(TaskOptions):
    """Options shared by the torch tasks on tabular data (see :class:`TabularTask`)."""

    dataset: one_of(DATASETS, "; or give your own arrays as X and y") = Field(
        "digits", description="a dataset that ships with scikit-learn (not used when X and y are given)")
    X: Annotated[Any, AfterValidator(_rows), _TABLE] = Field(
        None, description="your own feature rows (lists of numbers) instead of a dataset")
    y: Annotated[Any, AfterValidator(_rows), _TABLE] = Field(None, description="your own labels, one per row")
    seeds: list[Seed] = Field([0], min_length=1, description="training seeds the optimizer learns from")
    val_seeds: list[Seed] | None = Field(None, min_length=1, description="seeds candidates are scored on "
                                         "(default: seeds)")
    val_fraction: float = Field(0.25, gt=0, lt=1, description="share of the rows held out for validation")
    split_seed: Seed = Field(0, description="fixes the validation split")
    max_train: int | None = Field(None, ge=1, description="keep at most this many training rows")
    device: str = Field("cpu", pattern=DEVICE, description="torch device: cpu, cuda or cuda:N")
    threads: int | None = Field(1, ge=1, le=1024, description="torch CPU threads (none: leave as is)")

    @model_validator(mode="after")
    def _arrays(self) -> TabularOptions:
        if (self.X is None) != (self.y is None):
            raise ValueError("give both X and y, or neither (then `dataset` is used)")
        if self.X is not None and self.y is not None and len(self.X) != len(self.y):
            raise ValueError(f"X has {len(self.X)} rows but y has {len(self.y)} labels")
        return self


class TabularTask(SeededTask):
    """Base of the torch tasks: data options, seeds as examples, an epoch counter.

    Args:
        dataset: ``"digits"`` (default), ``"wine"``, ``"breast_cancer"``, ``"iris"``.
        X, y: your own data instead (rows of numeric features, any labels).
        seeds: training seeds the optimizer learns from (``train``); ``val_seeds``
            those candidates are scored on (default: the same).
        val_fraction, split_seed: the fixed stratified validation split.
        max_train: keep at most this many training rows (quick runs).
        device: ``"cpu"`` or ``"cuda"``; threads: torch CPU threads (None: leave as is).
        extra: the subclass's own options (kept in ``options`` for ``spec()``).

    Example:
        >>> TabularTask("wine", seeds=[0, 1], val_seeds=[2]).val
        [2]

    The examples are training seeds (``seeds`` for ``train``, ``val_seeds`` for
    ``val``, default the same); the split is fixed by ``split_seed``. Every epoch
    is counted in ``epochs_trained`` and its validation accuracy reported with
    :func:`tasks.base.report` (which may raise ``Pruned``).
    """

    Options = TabularOptions

    def __init__(
        self,
        dataset: str = "digits",
        *,
        X: Sequence[Sequence[float]] | None = None,
        y: Sequence[Any] | None = None,
        seeds: Sequence[int] = (0,),
        val_seeds: Sequence[int] | None = None,
        val_fraction: float = 0.25,
        split_seed: int = 0,
        max_train: int | None = None,
        device: str = "cpu",
        threads: int | None = 1,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            dataset=dataset, X=X, y=y, seeds=list(seeds), val_seeds=None if val_seeds is None else list(val_seeds),
            val_fraction=val_fraction, split_seed=split_seed, max_train=max_train, device=device, threads=threads,
            **(extra or {}),
        )
        if (X is None) != (y is None):
            raise ConfigError("pass both X and y, or neither (then `dataset` is used)")
        try:
            resolve_device(device)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self._lock = threading.Lock()
        self.epochs_trained = 0  # epochs trained by this object (every evaluation, pruned ones too)
        if X is not None:
            self.data  # noqa: B018 - check the user's arrays now, not at the first evaluation

    @functools.cached_property
    def data(self) -> TabularData:
        """The split dataset (loaded on first use)."""
        o = self.options
        source = (o["X"], o["y"]) if o["X"] is not None else o["dataset"]
        try:
            return load_data(source, val_fraction=o["val_fraction"], split_seed=o["split_seed"],
                             max_train=o["max_train"])
        except ValueError as e:
            raise ConfigError(str(e)) from None

    def _on_epoch(self, epoch: int, val_acc: float) -> None:
        with self._lock:
            self.epochs_trained += 1
        report(epoch, val_acc)


@dataclass(frozen=True)
class Failed:
    """An evaluation that produced no trained model: why, and what was measured.

    ``kind`` is one of ``"invalid"`` (the values do not fit their spaces or do not
    build), ``"param_limit"``, ``"error"`` (training raised), ``"timeout"`` (code ran too long).

    Example:
        >>> output_feedback(Failed("invalid", "lr=5 is out of range")).failed
        True
    """

    kind: str
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:  # short: it appears in traces shown to an LLM
        return f"Failed({self.kind}: {self.reason[:100]})"


def record_feedback(
    record: TrainRecord,
    *,
    n_classes: int,
    metrics: dict[str, float] | None = None,
    preamble: str = "",
    details: dict[str, Any] | None = None,
) -> Feedback:
    """Feedback on one training run; ``metrics``/``preamble`` add task-specific facts."""
    extra = dict(metrics or {})
    curve = format_curve(record)
    notes = diagnose(record, n_classes)
    info = {
        "curve": {k: [round(v, 4) for v in getattr(record, k)] for k in ("train_loss", "val_loss", "val_acc")},
        **(details or {}),
    }
    base = {"epochs_run": record.epochs_run, "seconds": round(record.seconds, 4), **extra}
    if record.diverged_at:
        stopped = f"stopped after {record.seconds:.2f}s on {record.device}"
        text = "\n".join(filter(None, [preamble, *notes, curve, stopped]))
        return Feedback(
            score=None,
            metrics={**base, "diverged_at": record.diverged_at},
            text=text,
            details={"failed": True, "reason": "diverged", **info},
        )
    acc = record.final_val_acc
    best = max(record.val_acc)
    head = (
        f"validation accuracy {acc:.4f} after {record.epochs_run} epochs "
        f"(best {best:.4f} at epoch {record.best_epoch}); final train loss {record.train_loss[-1]:.4g}, "
        f"validation loss {record.val_loss[-1]:.4g}; trained in {record.seconds:.2f}s on {record.device}"
    )
    return Feedback(
        score=acc,
        metrics={
            "val_acc": acc,
            "best_val_acc": best,
            "train_loss": record.train_loss[-1],
            "val_loss": record.val_loss[-1],
            **base,
        },
        text="\n".join(filter(None, [preamble, head, curve, *notes])),
        details=info,
    )


def output_feedback(output: Any, **kwargs: Any) -> Feedback:
    """Feedback for a run's output: a :class:`TrainRecord`, a :class:`Failed`, or anything else."""
    value = getattr(output, "value", output)
    if isinstance(value, Failed):
        return Feedback(
            score=None,
            metrics=value.metrics,
            text=value.reason,
            details={"failed": True, "reason": value.kind},
        )
    if isinstance(value, TrainRecord):
        return record_feedback(value, **kwargs)
    if isinstance(value, BaseException):
        return Feedback.failure(f"the evaluation raised {type(value).__name__}: {value}", reason="error")
    return Feedback.failure(f"unexpected output {value!r}; expected a training record", reason="error")



def call_pruning(op: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the traced op ``op``; a :class:`Pruned` raised inside it propagates as itself.

    A bundle turns exceptions into ``TracedError`` (or, inside ``catching()``, an
    ExceptionNode); pruning is control flow for the loop, so it is unwrapped here.
    """
    try:
        out = op(*args, **kwargs)
    except TracedError as e:
        if isinstance(e.exception_node.value, Pruned):
            raise e.exception_node.value from None
        raise
    if isinstance(getattr(out, "value", None), Pruned):
        raise out.value
    return out
