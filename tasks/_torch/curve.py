"""Learning curves as short text an LLM can reason about (standard library only)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_curve", "diagnose", "condensed_epochs"]


def condensed_epochs(n: int, max_rows: int = 8) -> list[int]:
    """1-based epochs to show: all if few, else the first, the last and evenly spaced ones.

    Example:
        >>> condensed_epochs(20, 5)
        [1, 6, 11, 15, 20]
    """
    if n <= max_rows:
        return list(range(1, n + 1))
    step = (n - 1) / (max_rows - 1)
    return sorted({1 + round(i * step) for i in range(max_rows)})


def format_curve(record: Any, max_rows: int = 8) -> str:
    """The learning curve (train loss, validation loss and accuracy per epoch), condensed.

    ``record`` has ``train_loss``, ``val_loss`` and ``val_acc`` lists (see
    :class:`~tasks._torch.train.TrainRecord`).
    """
    n = len(record.train_loss)
    if n == 0:
        return "learning curve: no epoch finished"
    rows = [f"learning curve ({n} epoch{'s' if n > 1 else ''}; epoch: train_loss / val_loss / val_acc):"]
    for e in condensed_epochs(n, max_rows):
        val = (
            f"{record.val_loss[e - 1]:.4g} / {record.val_acc[e - 1]:.4f}"
            if e <= len(record.val_acc)
            else "- / -"
        )
        rows.append(f"  {e:>3}: {record.train_loss[e - 1]:.4g} / {val}")
    return "\n".join(rows)


def diagnose(record: Any, n_classes: int | None = None) -> list[str]:
    """Plain observations about a curve: divergence, chance level, instability, overfitting,
    no convergence."""
    notes: list[str] = []
    if record.diverged_at:
        notes.append(
            f"training diverged: the train loss was not finite in epoch {record.diverged_at}; "
            "lower the learning rate (or use adam/adamw instead of sgd)"
        )
        return notes
    acc, vloss, tloss = record.val_acc, record.val_loss, record.train_loss
    if not acc:
        return notes
    if n_classes and acc[-1] <= 1.5 / n_classes:
        notes.append(
            f"validation accuracy {acc[-1]:.3f} is near chance (1/{n_classes}): the model did not learn; "
            "the learning rate is probably far too high or too low, or training far too short"
        )
        return notes
    low = min(range(len(tloss)), key=tloss.__getitem__)
    if low < len(tloss) - 1 and tloss[-1] > 1.5 * tloss[low]:
        notes.append(
            f"unstable: the train loss was lowest at epoch {low + 1} ({tloss[low]:.4g}) and rose to "
            f"{tloss[-1]:.4g}; the learning rate is probably too high"
        )
        return notes
    best = min(range(len(vloss)), key=vloss.__getitem__)
    if best < len(vloss) - 1 and vloss[-1] > 1.2 * vloss[best]:
        notes.append(
            f"overfitting: validation loss was lowest at epoch {best + 1} ({vloss[best]:.4g}) and rose to "
            f"{vloss[-1]:.4g}; fewer epochs, more weight decay or dropout may help"
        )
    if len(tloss) >= 4:
        q = max(1, len(tloss) // 4)
        if tloss[-1] < 0.9 * tloss[-1 - q] and vloss[-1] <= min(vloss) * 1.02:
            notes.append(
                "not converged: train and validation loss were still falling at the end; "
                "more epochs or a higher learning rate may help"
            )
    return notes
