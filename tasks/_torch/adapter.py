"""Adapter side of the torch tasks: training records to Feedback, pruning through traces.

Success: the score is the final validation accuracy, the text holds the condensed
learning curve, observations (overfitting, no convergence…) and the time. A
diverged run or a configuration that could not be trained becomes a scored
failure (score ``None``, ``details['failed']``) whose text says why and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trace_core.errors import Pruned, TracedError
from trace_core.feedback import Feedback

from tasks._torch.curve import diagnose, format_curve
from tasks._torch.train import TrainRecord

__all__ = ["Failed", "record_feedback", "output_feedback", "call_pruning"]


@dataclass(frozen=True)
class Failed:
    """An evaluation that produced no trained model: why, and what was measured.

    ``kind`` is one of ``"invalid"`` (the values do not fit their spaces or do not
    build), ``"param_limit"``, ``"error"`` (training raised).
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
        "curve": {"train_loss": record.train_loss, "val_loss": record.val_loss, "val_acc": record.val_acc},
        **(details or {}),
    }
    base = {"epochs_run": record.epochs_run, "seconds": round(record.seconds, 4), **extra}
    if record.diverged_at:
        text = "\n".join(filter(None, [preamble, *notes, curve, f"stopped after {record.seconds:.2f}s on {record.device}"]))
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
