"""The ``preference`` task: tune preference optimization (DPO, IPO, SimPO, SRPO) of a tiny LM.

An example is a training seed (model initialization and batch order); the data
(:func:`~.data.make_splits`) is fixed by ``data_seed``, so every trial is scored on
the same held-out prompts. One evaluation warms a tiny causal LM up on chosen
answers, optimizes it on preference pairs with the loss and hyperparameters under
tuning, and measures it (see :mod:`.metrics`).

**Score** (maximize): the validation **exact match** of greedy answers by default.
It is the checkable truth the pairs stand for and it is comparable across losses;
held-out preference accuracy saturates near 1 early and a loss can raise it while
the answers get worse. ``score="preference_accuracy"`` or
``score="revised_exact_match"`` (after the SRPO self-revisions) choose otherwise.
Feedback text holds the loss curve, the reward margins and the accuracies during
training, and notes on over-optimization (margin rising while accuracy falls).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dataclasses

import torch
from pydantic import Field, field_validator

from trace_core import Parameter, bundle
from trace_core.errors import ConfigError, InvalidProposal
from trace_core.feedback import Feedback
from trace_core.spaces import Choice, Float, Int, Space

from tasks._torch.adapter import Failed, call_pruning
from tasks._torch.adapter import DEVICE
from tasks.base import Seed, SeededTask, TaskOptions, multi_objective_option, one_of, report

from .data import Splits, make_splits
from .losses import LOSSES
from .model import ModelConfig
from .tokenizer import CharTokenizer
from .report import result_feedback
from .trainer import Diverged, TrainConfig, Trainer

__all__ = ["PreferenceTask", "default_config", "search_space", "SCORES"]

#: the objectives ``multi_objective=True`` declares
OBJECTIVES = {"exact_match": "maximize", "kl_to_reference": "minimize"}

SCORES = ("exact_match", "preference_accuracy", "revised_exact_match")
_DEFAULTS: dict[str, Any] = {
    "loss": "dpo",
    "beta": 0.1,
    "gamma_beta_ratio": 0.5,
    "alpha": 0.8,
    "lr": 1e-4,
    "steps": 150,
    "batch_size": 32,
    "warmup_steps": 500,
}
_HELP = {
    "loss": "preference loss: dpo (Rafailov 2023), ipo (Azar 2023), simpo (Meng 2024, reference-free, "
    "length-normalized), srpo (Choi 2024, also trains self-revision)",
    "beta": "β: inverse temperature of the implicit reward (dpo/ipo/srpo ~0.1; simpo ~2)",
    "gamma_beta_ratio": "SimPO target margin γ divided by β (only used by simpo)",
    "alpha": "SRPO weight of the self-revision term (only used by srpo)",
    "lr": "AdamW learning rate of the preference phase",
    "steps": "preference optimization steps",
    "batch_size": "preference pairs per step",
    "warmup_steps": "supervised warm-up steps on chosen answers before preference optimization",
}


def default_config() -> dict[str, Any]:
    """The default hyperparameters: DPO with β=0.1 at lr 1e-4 (about 8 s per trial on one CPU core)."""
    return dict(_DEFAULTS)


def search_space(*, max_steps: int = 400, max_lr: float = 0.1) -> dict[str, Space]:
    """Name → space of every tuned hyperparameter."""
    return {
        "loss": Choice(list(LOSSES)),
        "beta": Float(0.01, 10.0, log=True),
        "gamma_beta_ratio": Float(0.0, 2.0),
        "alpha": Float(0.0, 1.0),
        "lr": Float(1e-5, max_lr, log=True),
        "steps": Int(1, max_steps),
        "batch_size": Int(8, 64, log=True),
        "warmup_steps": Int(0, 1000),
    }


class _WarmCache:
    """Warmed-up weights by (seed, warm-up steps): trials that share them skip the warm-up."""

    def __init__(self, size: int = 8) -> None:
        self._items: OrderedDict[tuple[int, int], dict[str, torch.Tensor]] = OrderedDict()
        self._size, self._lock = size, threading.Lock()

    def get(self, key: tuple[int, int]) -> dict[str, torch.Tensor] | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: tuple[int, int], state: Mapping[str, torch.Tensor]) -> None:
        with self._lock:
            self._items[key] = {k: v.detach().cpu().clone() for k, v in state.items()}
            while len(self._items) > self._size:
                self._items.popitem(last=False)


@dataclass(frozen=True)
class _Setup:
    """What a training run needs besides the tuned hyperparameters."""

    splits: Splits
    model: ModelConfig
    spaces: Mapping[str, Space]
    device: str
    threads: int | None
    revisions: int
    eval_every: int
    score: str
    warmup_revisions: bool
    cache: _WarmCache | None
    ipo_per_token: bool = False

    def __repr__(self) -> str:  # short: shown in traces
        return f"Setup({len(self.splits.train)} training pairs, device={self.device!r})"

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        report(step, float(metrics["preference_accuracy" if self.score == "preference_accuracy" else "exact_match"]))


@bundle
def train_preference(
    loss: str, beta: float, gamma_beta_ratio: float, alpha: float, lr: float, steps: int, batch_size: int,
    warmup_steps: int, seed: int, setup: _Setup,
) -> Any:
    """Warm a tiny causal LM up on the chosen answers of generated arithmetic preference pairs,
    then optimize it with the preference `loss` and these hyperparameters; returns the training
    record (loss curve, reward margins, held-out accuracies) or the reason it failed."""
    raw = dict(loss=loss, beta=beta, gamma_beta_ratio=gamma_beta_ratio, alpha=alpha, lr=lr, steps=steps,
               batch_size=batch_size, warmup_steps=warmup_steps)  # fmt: skip
    values: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            values[key] = setup.spaces[key].validate(value)
        except InvalidProposal as e:
            return Failed("invalid", f"hyperparameter {key}={value!r} is invalid: {e}")
    if setup.threads:
        torch.set_num_threads(setup.threads)
    cfg = TrainConfig(**values, seed=seed, device=setup.device, revisions=setup.revisions, eval_every=setup.eval_every,
                      warmup_revisions=setup.warmup_revisions, ipo_per_token=setup.ipo_per_token)  # fmt: skip
    key = (seed, cfg.warmup_steps)
    warm = setup.cache.get(key) if setup.cache is not None else None
    trainer = Trainer(cfg, setup.splits, setup.model, on_eval=setup.on_eval, warm_start=warm)
    try:
        trainer.warm_up()
        if warm is None and setup.cache is not None:
            setup.cache.put(key, trainer.model.state_dict())
        return trainer.train()
    except Diverged as e:
        metrics = {"diverged_step": float(e.step), "steps_run": float(trainer.step)}
        return Failed("diverged", str(e), metrics)


class PreferenceTask(SeededTask):
    """Tune the loss (DPO / IPO / SimPO / SRPO) and hyperparameters of preference optimization
    of a tiny causal LM on generated arithmetic pairs (``"47+5="``: ``"52"`` preferred to an
    off-by-one, reversed or truncated answer).

    Args:
        seeds: training seeds the optimizer learns from (``train``); ``val_seeds``
            those candidates are scored on (default: the same).
        families, max_operand, data_seed: the generated data (see :func:`~.data.make_splits`).
        model: :class:`~.model.ModelConfig` fields (default: about 0.1 M parameters).
        score: ``"exact_match"`` (default), ``"preference_accuracy"`` or ``"revised_exact_match"``.
        revisions: self-revisions measured after training (SRPO's inference).
        eval_every: validation every so many preference steps (reported for pruning).
        max_steps, max_lr: upper bounds of the ``steps`` and ``lr`` spaces.
        initial: starting values overriding :func:`default_config`.
        device: ``"cpu"`` or ``"cuda"`` (bf16 autocast); threads: torch CPU threads.
        warmup_revisions: also warm up the self-revision format (see :class:`~.trainer.TrainConfig`).
        ipo_per_token: IPO on per-token log-prob ratios (TRL's form) instead of summed ones
            (the default); the same β trains very differently (see :func:`~.losses.ipo_loss`).
        cache_warmup: reuse warmed-up weights across trials with the same seed and warm-up steps.
        multi_objective: also minimize how far the policy moved from the reference (objectives:
            the score's metric, maximized, and ``kl_to_reference``, minimized; see :mod:`.metrics`).

    Example:
        >>> from trace_core import using
        >>> task = PreferenceTask(max_operand=20, model={"d_model": 32, "n_layer": 1})
        >>> with using({"steps": 4, "warmup_steps": 4}):
        ...     fb = task.evaluate(0, task.run(0))
        >>> 0.0 <= fb.score <= 1.0
        True
    """

    name = "preference"
    direction = "maximize"
    natural_objectives = OBJECTIVES
    description = (
        "Preference-optimize a tiny causal language model (trained from scratch on generated "
        "arithmetic) with DPO, IPO, SimPO or SRPO after a supervised warm-up; tune the loss and "
        "its hyperparameters to maximize exact-match accuracy of greedy answers on held-out prompts."
    )

    class Options(TaskOptions):
        seeds: list[Seed] = Field([0], min_length=1, description="training seeds the optimizer learns from")
        val_seeds: list[Seed] | None = Field(None, min_length=1, description="seeds candidates are scored on")
        families: list[one_of(("add", "rev"))] = Field(["add"], min_length=1, description="prompt families")
        max_operand: int = Field(100, ge=1, le=100_000, description="add operands range over 0 .. max_operand-1")
        data_seed: Seed = Field(0, description="fixes the generated data")
        model: dict[str, Any] | None = Field(None, description="sizes of the tiny LM: " + ", ".join(
            f.name for f in dataclasses.fields(ModelConfig)))
        score: one_of(SCORES) = Field("exact_match", description="the score to maximize")
        revisions: int = Field(2, ge=0, le=100, description="self-revisions measured after training")
        eval_every: int = Field(50, ge=0, description="validation every so many preference steps (0: none)")
        max_steps: int = Field(400, ge=1, le=1_000_000, description="upper bound of the steps hyperparameter")
        max_lr: float = Field(0.1, gt=1e-5, description="upper bound of the lr hyperparameter")
        initial: dict[str, Any] | None = Field(None, description=f"starting values of {', '.join(_DEFAULTS)}")
        device: str = Field("cpu", pattern=DEVICE, description="torch device: cpu, cuda or cuda:N")
        threads: int | None = Field(1, ge=1, le=1024, description="torch CPU threads (none: leave as is)")
        warmup_revisions: bool = Field(False, description="also warm up the self-revision format")
        cache_warmup: bool = Field(True, description="reuse warmed-up weights across trials")
        ipo_per_token: bool = Field(False, description="IPO on per-token averaged log-prob ratios (TRL's form) "
                                    "instead of per-sequence summed ones")
        multi_objective: bool = multi_objective_option(OBJECTIVES)

        @field_validator("model", "initial")
        @classmethod
        def _known_keys(cls, value: dict[str, Any] | None, info: Any) -> dict[str, Any] | None:
            known = [f.name for f in dataclasses.fields(ModelConfig)] if info.field_name == "model" else list(_DEFAULTS)
            unknown = sorted(set(value or ()) - set(known))
            if unknown:
                raise ValueError(f"unknown keys {unknown}; known: {', '.join(known)}")
            return value

    def __init__(
        self,
        *,
        seeds: tuple[int, ...] | list[int] = (0,),
        val_seeds: tuple[int, ...] | list[int] | None = None,
        families: tuple[str, ...] | list[str] = ("add",),
        max_operand: int = 100,
        data_seed: int = 0,
        model: Mapping[str, Any] | None = None,
        score: str = "exact_match",
        revisions: int = 2,
        eval_every: int = 50,
        max_steps: int = 400,
        max_lr: float = 0.1,
        initial: Mapping[str, Any] | None = None,
        device: str = "cpu",
        threads: int | None = 1,
        warmup_revisions: bool = False,
        cache_warmup: bool = True,
        ipo_per_token: bool = False,
        multi_objective: bool = False,
    ) -> None:
        super().__init__(
            seeds=list(seeds), val_seeds=None if val_seeds is None else list(val_seeds), families=list(families),
            max_operand=max_operand, data_seed=data_seed, model=dict(model or {}), score=score, revisions=revisions,
            eval_every=eval_every, max_steps=max_steps, max_lr=max_lr, initial=dict(initial or {}), device=device,
            threads=threads, warmup_revisions=warmup_revisions, cache_warmup=cache_warmup, ipo_per_token=ipo_per_token,
            **({"multi_objective": True} if multi_objective else {}),
        )  # fmt: skip
        if multi_objective:  # the first objective is the score (Feedback.metrics names it too)
            self.objectives = {score: "maximize", "kl_to_reference": "minimize"}  # type: ignore[misc]
        if score not in SCORES:
            raise ConfigError(f"unknown score {score!r}; use one of {SCORES}")
        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            raise ConfigError(f"device must be 'cpu' or 'cuda', got {device!r}")
        try:
            self.model_config = ModelConfig(**{"vocab_size": CharTokenizer().vocab_size, **(model or {})})
            self.splits = make_splits(tuple(families), max_operand=max_operand, seed=data_seed)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"invalid preference task options: {e}") from None
        self._spaces = search_space(max_steps=max_steps, max_lr=max_lr)
        values = {**_DEFAULTS, **(initial or {})}
        unknown = set(values) - set(self._spaces)
        if unknown:
            raise ConfigError(f"unknown hyperparameters {sorted(unknown)}; known: {sorted(self._spaces)}")
        try:
            self._params = [
                Parameter(values[k], name=k, space=s, description=_HELP[k]) for k, s in self._spaces.items()
            ]
        except InvalidProposal as e:
            raise ConfigError(f"an initial value is invalid: {e}") from None
        self._cache = _WarmCache() if cache_warmup else None

    def parameters(self) -> list[Parameter]:
        return list(self._params)

    def run(self, example: Any) -> Any:
        """Train with the current values (honouring ``using``) on seed ``example``; a Node."""
        o = self.options
        setup = _Setup(self.splits, self.model_config, self._spaces, o["device"], o["threads"], o["revisions"],
                       o["eval_every"], o["score"], o["warmup_revisions"], self._cache,
                       bool(o.get("ipo_per_token", False)))  # fmt: skip
        return call_pruning(train_preference, *self._params, seed=int(example or 0), setup=setup)

    def evaluate(self, example: Any, output: Any) -> Feedback:
        return result_feedback(getattr(output, "value", output), score=self.options["score"])
