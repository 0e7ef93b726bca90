"""Train the tiny LM on preference pairs: supervised warm-up, then DPO / IPO / SimPO / SRPO.

The :class:`Trainer` runs, in order:

1. a supervised warm-up on the chosen answers (given the prompt; optionally also
   given a revision prompt showing either answer), so preferences become learnable;
2. freezes a copy of the warmed-up model as the reference and computes its
   log-probs of every training and held-out sequence once (cached);
3. the preference loop: batches of pairs (padded tensors built once), the loss,
   gradient clipping, AdamW; periodic validation; checkpoints;
4. a final evaluation on the validation and test splits (see :mod:`.metrics`).

A non-finite or exploding loss raises :class:`Diverged`. ``device="cuda"`` runs
under bf16 autocast. Imports only torch, the standard library and the package's
torch modules, so ``PYTHONPATH=. python -c "import tasks.preference.trainer"`` works on a machine
with torch alone.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .batching import EncodedPairs, encode_pairs
from .data import Splits, make_splits
from .generate import greedy_generate, self_revise
from .losses import PAIR_SEQUENCES, preference_loss, sequences_for
from .metrics import exact_match, pair_metrics, win_rate
from .model import ModelConfig, TinyLM, autocast_for, sequence_logps, token_kl
from .tokenizer import CharTokenizer

__all__ = ["TrainConfig", "TrainResult", "Trainer", "Diverged"]

log = logging.getLogger(__name__)

#: what the supervised warm-up trains: the chosen answer given the prompt, and optionally
#: given a revision prompt that shows either answer
_SFT_COLUMNS = ("w|x",)
_SFT_REVISION_COLUMNS = ("w|x", "w|l,x", "w|w,x")


def _cosine(step: int, total: int, floor: float = 0.1) -> float:
    """Cosine decay from 1 to ``floor`` over ``total`` steps."""
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))


class Diverged(RuntimeError):
    """Training produced a non-finite loss; ``step`` and ``loss`` say where."""

    def __init__(self, message: str, *, step: int, loss: float) -> None:
        super().__init__(message)
        self.step, self.loss = step, loss


@dataclass
class TrainConfig:
    """Hyperparameters of one training run (see :mod:`.losses` for the loss ones).

    ``warmup_steps`` are supervised warm-up steps on chosen answers (at
    ``warmup_lr`` with a short linear ramp and a cosine decay, batches of
    ``warmup_batch_size``), before ``steps`` preference steps at ``lr``. With
    ``warmup_revisions`` the warm-up also trains the self-revision format (the
    chosen answer after a revision prompt showing either answer); it makes the
    warm-up learn arithmetic more slowly and less reliably, so it is off by default
    (SRPO then learns the revision format in its preference phase alone).

    Training counts as diverged when the loss is not finite or exceeds
    ``explode_factor`` times its first value (at least 1).

    ``ipo_per_token`` makes IPO use per-token log-prob ratios (TRL's form) instead of
    summed ones (see :func:`~.losses.ipo_loss`).

    Example:
        >>> TrainConfig(loss="simpo", beta=2.0).gamma_beta_ratio
        0.5
    """

    loss: str = "dpo"
    beta: float = 0.1
    gamma_beta_ratio: float = 0.5
    alpha: float = 0.8
    label_smoothing: float = 0.0
    lr: float = 1e-4
    steps: int = 150
    batch_size: int = 32
    warmup_steps: int = 500
    warmup_lr: float = 3e-3
    warmup_batch_size: int = 32
    warmup_revisions: bool = False
    ipo_per_token: bool = False
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "cpu"
    eval_every: int = 50
    log_every: int = 10
    revisions: int = 2
    max_new_tokens: int = 6
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    explode_factor: float = 1e4


@dataclass
class TrainResult:
    """What a run produced: curves, periodic and final metrics, timings."""

    config: dict[str, Any]
    warmup_losses: list[float] = field(default_factory=list)
    losses: list[tuple[int, float]] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    pairs_per_second: float = 0.0
    num_parameters: int = 0

    def __repr__(self) -> str:  # short: it is the value of a traced node an LLM may read
        val = self.final.get("val", {})
        keys = ("exact_match", "preference_accuracy", "reward_margin")
        shown = ", ".join(f"{k}={val[k]:.3f}" for k in keys if k in val)
        return f"TrainResult(loss={self.config.get('loss')}, steps={len(self.losses)}, {shown or 'not evaluated'})"


class Trainer:
    """Supervised warm-up, then preference optimization of a :class:`TinyLM`.

    Example:
        >>> cfg = TrainConfig(steps=2, warmup_steps=2, batch_size=4, eval_every=0, revisions=0)
        >>> data = make_splits(("add",), max_operand=6)
        >>> result = Trainer(cfg, data, ModelConfig(d_model=16, n_layer=1, n_head=2, d_ff=32)).train()
        >>> len(result.losses)
        2
    """

    def __init__(
        self,
        config: TrainConfig,
        splits: Splits | None = None,
        model_config: ModelConfig | None = None,
        *,
        on_eval: Callable[[int, dict[str, float]], None] | None = None,
        warm_start: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        self.config = config
        self.columns = sequences_for(config.loss)
        self.splits = splits if splits is not None else make_splits()
        self.tokenizer = CharTokenizer()
        self.device = torch.device(config.device)
        mcfg = model_config or ModelConfig(vocab_size=self.tokenizer.vocab_size)
        if mcfg.vocab_size < self.tokenizer.vocab_size:
            raise ValueError(
                f"ModelConfig.vocab_size={mcfg.vocab_size} is below the tokenizer's {self.tokenizer.vocab_size}"
            )
        self.model = TinyLM(mcfg, seed=config.seed).to(self.device)
        self.reference: nn.Module | None = None
        self.on_eval = on_eval
        self.step = 0
        self.result = TrainResult(config=asdict(config), num_parameters=self.model.num_parameters())
        self.train_data = encode_pairs(self.splits.train, self.tokenizer, self.columns).to(self.device)
        self.held_out = {
            s: encode_pairs(self.splits[s], self.tokenizer, PAIR_SEQUENCES).to(self.device) for s in ("val", "test")
        }
        self.reference_logps: dict[str, torch.Tensor] = {}
        self.reference_answers: dict[str, list[str]] = {}
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=0.0)
        self.warm_start = warm_start
        self._first_loss: float | None = None

    # -- phases ---------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Supervised warm-up on chosen answers, then freeze the reference and cache its log-probs.

        With ``warm_start`` (a state dict of an earlier warm-up with the same seed,
        steps and data) the supervised steps are skipped.
        """
        t0 = time.perf_counter()
        if self.warm_start is not None:
            self.model.load_state_dict(self.warm_start)
        else:
            self._supervised()
        self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)
        self._cache_reference()
        self.result.seconds["warm_up"] = time.perf_counter() - t0

    def _supervised(self) -> None:
        cfg = self.config
        columns = _SFT_REVISION_COLUMNS if cfg.warmup_revisions else _SFT_COLUMNS
        sft = encode_pairs(self.splits.train, self.tokenizer, columns).single_column().to(self.device)
        opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.warmup_lr, weight_decay=0.0)
        ramp = max(1, cfg.warmup_steps // 10)
        total = cfg.warmup_steps
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / ramp) * _cosine(s, total))
        for step in range(cfg.warmup_steps):
            ids, mask = sft.batch(self._sample(len(sft), step, salt=1, size=cfg.warmup_batch_size))
            with autocast_for(self.device):
                logp, n = sequence_logps(self.model, ids, mask)
            loss = -logp.sum() / n.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            if step % cfg.log_every == 0 or step == cfg.warmup_steps - 1:
                self.result.warmup_losses.append(self._finite(loss.item(), step, "warm-up"))

    def _cache_reference(self) -> None:
        """The frozen reference's log-probs of every sequence, computed once."""
        assert self.reference is not None
        if self.config.loss != "simpo":
            self.reference_logps["train"] = self._logps(self.reference, self.train_data)
        for split, data in self.held_out.items():
            self.reference_logps[split] = self._logps(self.reference, data)

    def train(self, *, final_eval: bool = True) -> TrainResult:
        """Run every phase (the warm-up only when not done or restored); returns the result.

        ``final_eval=False`` skips the closing evaluation (for throughput measurements).
        """
        cfg = self.config
        if self.reference is None:
            self.warm_up()
        t0, pending, eval_time, start = time.perf_counter(), [], 0.0, self.step
        self.model.train()
        while self.step < cfg.steps:
            index = self._sample(len(self.train_data), self.step, salt=2)
            loss = self.train_step(index)
            pending.append(loss.detach())
            self.step += 1
            if len(pending) == cfg.log_every or self.step == cfg.steps:
                self._flush(pending)
                pending = []
            if cfg.eval_every and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
                t_eval = time.perf_counter()
                self._periodic_eval()
                eval_time += time.perf_counter() - t_eval
            if cfg.checkpoint_dir and cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint(Path(cfg.checkpoint_dir) / "last.pt")
        train_time = time.perf_counter() - t0 - eval_time
        self.result.seconds["preference"] = train_time
        self.result.pairs_per_second = (cfg.steps - start) * cfg.batch_size / train_time if train_time > 0 else 0.0
        t0 = time.perf_counter()
        for split in ("val", "test") if final_eval else ():
            self.result.final[split] = self.evaluate(split, revisions=cfg.revisions)
        self.result.seconds["evaluation"] = time.perf_counter() - t0 + eval_time
        if cfg.checkpoint_dir:
            self.save_checkpoint(Path(cfg.checkpoint_dir) / "last.pt")
        return self.result

    def train_step(self, index: torch.Tensor) -> torch.Tensor:
        """One optimizer step on the pairs ``index``; returns the (undetached) mean loss."""
        cfg = self.config
        ids, mask = self.train_data.batch(index)
        with autocast_for(self.device):
            logp, _ = sequence_logps(self.model, ids, mask)
        policy = logp.view(len(index), len(self.columns))
        reference = self.reference_logps["train"][index] if cfg.loss != "simpo" else None
        loss = preference_loss(
            cfg.loss, policy, reference, self.train_data.lengths[index], beta=cfg.beta,
            label_smoothing=cfg.label_smoothing, gamma_beta_ratio=cfg.gamma_beta_ratio, alpha=cfg.alpha,
            ipo_per_token=cfg.ipo_per_token,
        ).mean()  # fmt: skip
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        return loss

    def evaluate(self, split: str, *, revisions: int = 0, generations: bool = True) -> dict[str, Any]:
        """Metrics of the current policy on ``"val"`` or ``"test"`` (see :mod:`.metrics`)."""
        if self.reference is None:
            raise RuntimeError("evaluate() needs the reference model: call warm_up() or train() first")
        policy = self._logps(self.model, self.held_out[split])
        if not bool(torch.isfinite(policy).all()):
            raise Diverged(
                f"training diverged: non-finite log-probs on {split} at step {self.step}; lower the learning rate",
                step=self.step,
                loss=math.nan,
            )
        metrics: dict[str, Any] = pair_metrics(policy, self.reference_logps[split])
        metrics["kl_to_reference"] = self._kl_to_reference(self.held_out[split])
        if not generations:
            return metrics
        prompts = sorted({pair.prompt for pair in self.splits[split]})
        gen = {"max_new_tokens": self.config.max_new_tokens}
        if split not in self.reference_answers:
            self.reference_answers[split] = greedy_generate(self.reference, self.tokenizer, prompts, **gen)
        rounds = self_revise(self.model, self.tokenizer, prompts, revisions, **gen)
        metrics["exact_match"] = exact_match(prompts, rounds[0])
        metrics["reference_exact_match"] = exact_match(prompts, self.reference_answers[split])
        metrics["win_rate"] = win_rate(prompts, rounds[0], self.reference_answers[split])
        if revisions:
            metrics["revision_accuracy"] = [exact_match(prompts, answers) for answers in rounds]
        return metrics

    # -- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, path: str | Path) -> Path:
        """Save model, reference, optimizer, step and curves (``torch.save``, tensors and plain data)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.reference is None:
            raise RuntimeError("save_checkpoint() needs the reference model: call warm_up() or train() first")
        state = {
            "model": self.model.state_dict(),
            "reference": self.reference.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "result": asdict(self.result),
        }
        torch.save(state, path)
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint`; :meth:`train` then resumes."""
        state = torch.load(Path(path), map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.reference.load_state_dict(state["reference"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.result = TrainResult(**state["result"])
        self.result.losses = [(int(step), float(value)) for step, value in self.result.losses]
        self._first_loss = self.result.losses[0][1] if self.result.losses else None
        self._cache_reference()

    # -- helpers ------------------------------------------------------------------------------
    def _sample(self, n: int, step: int, *, salt: int, size: int | None = None) -> torch.Tensor:
        """Batch indices for ``step``: a function of (seed, phase, step) alone, so a resumed run repeats them."""
        g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + salt * 100_003 + step)
        return torch.randint(n, (size or self.config.batch_size,), generator=g).to(self.device)

    @torch.no_grad()
    def _logps(self, model: nn.Module, data: EncodedPairs, chunk: int = 256) -> torch.Tensor:
        was_training = model.training
        model.eval()
        out = []
        for start in range(0, len(data), chunk):
            ids, mask = data.batch(torch.arange(start, min(start + chunk, len(data)), device=self.device))
            with autocast_for(self.device):
                logp, _ = sequence_logps(model, ids, mask)
            out.append(logp.float().view(-1, len(data.columns)))
        model.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, len(data.columns), device=self.device)

    @torch.no_grad()
    def _kl_to_reference(self, data: EncodedPairs, chunk: int = 256) -> float:
        """Mean per-token ``KL(policy || reference)`` in nats on the chosen answers of ``data``
        (the first column), over the whole vocabulary at each answer position."""
        assert self.reference is not None
        was_training = self.model.training
        self.model.eval()
        total, tokens = 0.0, 0.0
        for start in range(0, len(data), chunk):
            ids, mask = data.batch(torch.arange(start, min(start + chunk, len(data)), device=self.device), [0])
            with autocast_for(self.device):
                kl, n = token_kl(self.model, self.reference, ids, mask)
            total, tokens = total + float(kl.sum()), tokens + float(n.sum())
        self.model.train(was_training)
        return total / tokens if tokens else 0.0

    def _finite(self, value: float, step: int, phase: str) -> float:
        cfg = self.config
        if math.isfinite(value) and phase == "preference":
            if self._first_loss is None:
                self._first_loss = value
            if abs(value) <= cfg.explode_factor * max(1.0, abs(self._first_loss)):
                return value
            what = f"exploded from {self._first_loss:.4g} to {value:.4g}"
        elif math.isfinite(value):
            return value
        else:
            what = f"became {value}"
        raise Diverged(
            f"training diverged: the {phase} loss {what} at step {step} (loss={cfg.loss}, lr={cfg.lr:g}, "
            f"beta={cfg.beta:g}); lower the learning rate (or beta)",
            step=step,
            loss=value,
        )

    def _flush(self, pending: list[torch.Tensor]) -> None:
        values = torch.stack(pending).float().cpu().tolist()
        first = self.step - len(values)
        for i, value in enumerate(values):
            self.result.losses.append((first + i + 1, self._finite(value, first + i + 1, "preference")))

    def _periodic_eval(self) -> None:
        metrics = {"step": float(self.step), **self.evaluate("val", revisions=0)}
        metrics.pop("revision_accuracy", None)
        self.result.evals.append(metrics)
        log.debug("step %d: %s", self.step, metrics)
        if self.on_eval is not None:
            self.on_eval(self.step, metrics)
