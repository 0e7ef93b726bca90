"""The ``hpo`` task: tune an MLP classifier's training hyperparameters.

The example is a seed (weight init, batch order, dropout masks); the data split is
fixed by ``split_seed`` so every trial is scored on the same validation rows. The
score is the validation accuracy after the last epoch (maximize). Each epoch's
validation accuracy goes to :func:`tasks.base.report`, so the loop can prune.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trace_core import Parameter, bundle
from trace_core.errors import ConfigError, InvalidProposal
from trace_core.feedback import Feedback
from trace_core.spaces import Choice, Float, Int, Space

from pydantic import Field, field_validator

from tasks._torch.adapter import Failed, TabularOptions, TabularTask, call_pruning, output_feedback
from tasks._torch.data import TabularData
from tasks._torch.train import OPTIMIZERS, build_mlp, seeded_build, train_model
from tasks.base import multi_objective_option

__all__ = ["HPOTask", "default_config", "search_space"]

#: the objectives ``multi_objective=True`` declares
OBJECTIVES = {"val_acc": "maximize", "seconds": "minimize"}

_DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "batch_size": 64,
    "width": 128,
    "depth": 2,
    "dropout": 0.1,
    "epochs": 20,
    "optimizer": "adam",
}
_HELP = {
    "lr": "learning rate of the optimizer",
    "weight_decay": "L2 weight decay",
    "batch_size": "minibatch size",
    "width": "units per hidden layer",
    "depth": "number of hidden layers",
    "dropout": "dropout probability after each hidden layer",
    "epochs": "passes over the training data",
    "optimizer": "optimizer (sgd uses Nesterov momentum 0.9)",
}


def default_config() -> dict[str, Any]:
    """The default hyperparameters (about 0.97 validation accuracy on digits in ~0.5 s)."""
    return dict(_DEFAULTS)


def search_space(max_epochs: int = 30) -> dict[str, Space]:
    """Name → space of every hyperparameter."""
    return {
        "lr": Float(1e-4, 0.3, log=True),
        "weight_decay": Float(1e-6, 1e-1, log=True),
        "batch_size": Choice([16, 32, 64, 128, 256]),
        "width": Int(16, 256, log=True),
        "depth": Int(1, 4),
        "dropout": Float(0.0, 0.5),
        "epochs": Int(1, max_epochs),
        "optimizer": Choice(list(OPTIMIZERS)),
    }


@dataclass(frozen=True)
class _Setup:
    """What a training run needs besides the hyperparameters."""

    data: TabularData
    spaces: Mapping[str, Space]
    device: str
    threads: int | None
    on_epoch: Any

    def __repr__(self) -> str:
        return f"Setup({self.data!r}, device={self.device!r})"


@bundle
def train_classifier(
    lr: float, weight_decay: float, batch_size: int, width: int, depth: int, dropout: float, epochs: int,
    optimizer: str, seed: int, setup: _Setup,
) -> Any:
    """Train an MLP (depth hidden ReLU layers of width units with dropout) with cross-entropy on
    the training split and these hyperparameters; returns the training record (learning curve,
    final validation accuracy) or the reason it could not train."""
    raw = dict(lr=lr, weight_decay=weight_decay, batch_size=batch_size, width=width, depth=depth,
               dropout=dropout, epochs=epochs, optimizer=optimizer)
    cfg: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            cfg[key] = setup.spaces[key].validate(value)
        except InvalidProposal as e:
            return Failed("invalid", f"hyperparameter {key}={value!r} is invalid: {e}")
    data = setup.data
    with seeded_build(seed):
        model = build_mlp(data.n_features, data.n_classes, cfg["width"], cfg["depth"], cfg["dropout"])
    return train_model(
        model, data, lr=cfg["lr"], weight_decay=cfg["weight_decay"], batch_size=cfg["batch_size"],
        epochs=cfg["epochs"], optimizer=cfg["optimizer"], seed=seed, device=setup.device,
        threads=setup.threads, on_epoch=setup.on_epoch,
    )


class HPOTask(TabularTask):
    """Tune lr, weight decay, batch size, width, depth, dropout, epochs and optimizer of
    an MLP classifier on a scikit-learn dataset (or your ``X``, ``y``).

    Args:
        dataset: a scikit-learn dataset name (see :class:`~tasks._torch.adapter.TabularTask`).
        max_epochs: upper bound of the ``epochs`` space.
        initial: starting values overriding :func:`default_config`.
        multi_objective: also minimize the training time (objectives ``val_acc``, ``seconds``).
        **data: ``X``, ``y``, ``seeds``, ``val_seeds``, ``val_fraction``, ``split_seed``,
            ``max_train``, ``device``, ``threads`` (see ``TabularTask``).

    Example:
        >>> from trace_core import using
        >>> task = HPOTask("wine")
        >>> with using({"epochs": 2, "width": 16}):
        ...     fb = task.evaluate(0, task.run(0))
        >>> fb.metrics["epochs_run"]
        2.0
    """

    name = "hpo"
    direction = "maximize"
    natural_objectives = OBJECTIVES
    description = (
        "Train a multilayer perceptron classifier with PyTorch on a tabular dataset; tune its "
        "training hyperparameters to maximize validation accuracy (after the last epoch)."
    )

    class Options(TabularOptions):
        max_epochs: int = Field(30, ge=1, le=100_000, description="upper bound of the epochs hyperparameter")
        initial: dict[str, Any] | None = Field(None, description=f"starting values of {', '.join(_DEFAULTS)}")
        multi_objective: bool = multi_objective_option(OBJECTIVES)

        @field_validator("initial")
        @classmethod
        def _known(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
            unknown = sorted(set(value or ()) - set(_DEFAULTS))
            if unknown:
                raise ValueError(f"unknown hyperparameters {unknown}; known: {', '.join(_DEFAULTS)}")
            return value

    def __init__(
        self,
        dataset: str = "digits",
        *,
        max_epochs: int = 30,
        initial: Mapping[str, Any] | None = None,
        multi_objective: bool = False,
        **data: Any,
    ) -> None:
        extra = {"max_epochs": max_epochs, "initial": dict(initial or {})}
        super().__init__(dataset, extra={**extra, **({"multi_objective": True} if multi_objective else {})}, **data)
        self._spaces = search_space(max_epochs)
        values = {**_DEFAULTS, "epochs": min(_DEFAULTS["epochs"], max_epochs), **(initial or {})}
        unknown = set(values) - set(self._spaces)
        if unknown:
            raise ConfigError(f"unknown hyperparameters {sorted(unknown)}; known: {sorted(self._spaces)}")
        try:
            self._params = [
                Parameter(values[k], name=k, space=s, description=_HELP[k]) for k, s in self._spaces.items()
            ]
        except InvalidProposal as e:
            raise ConfigError(f"an initial value is invalid: {e}") from None

    def parameters(self) -> list[Parameter]:
        return list(self._params)

    def run(self, example: Any) -> Any:
        """Train with the current values (honouring ``using``) on seed ``example``; a Node."""
        setup = _Setup(self.data, self._spaces, self.options["device"], self.options["threads"], self._on_epoch)
        return call_pruning(train_classifier, *self._params, seed=int(example or 0), setup=setup)

    def evaluate(self, example: Any, output: Any) -> Feedback:
        return output_feedback(output, n_classes=self.data.n_classes)
