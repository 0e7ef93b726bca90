"""Build and train small torch classifiers; imports only torch and the stdlib.

Deterministic for a seed: models are built under a lock with a seeded RNG
(:func:`seeded_build`), batches are shuffled and dropout masks drawn from a
per-run generator (``nn.Dropout`` layers are swapped for :class:`Dropout`), so two
threads training at once do not disturb each other.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = [
    "OPTIMIZERS",
    "Dropout",
    "TrainRecord",
    "build_mlp",
    "count_parameters",
    "latency_ms",
    "resolve_device",
    "seeded_build",
    "train_model",
]

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
_BUILD_LOCK = threading.Lock()


def resolve_device(device: str) -> torch.device:
    """``"cpu"`` or ``"cuda"`` (``"cuda:1"``…) as a torch device; raises ValueError if unavailable."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for but CUDA is not available; use device='cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return dev


class Dropout(nn.Module):
    """Dropout drawing its masks from ``generator`` (set by :func:`train_model`).

    Example:
        >>> d = Dropout(0.5).eval()
        >>> bool((d(torch.ones(3)) == 1).all())
        True
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p <= 0.0:
            return x
        mask = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=self.generator)
        return x * mask / (1.0 - self.p)


def build_mlp(in_features: int, n_classes: int, width: int, depth: int, dropout: float = 0.0) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units (Linear → ReLU → Dropout), then a linear head.

    Example:
        >>> build_mlp(64, 10, width=32, depth=2)[-1].out_features
        10
    """
    layers: list[nn.Module] = []
    fan_in = in_features
    for _ in range(int(depth)):
        layers += [nn.Linear(fan_in, int(width)), nn.ReLU()]
        if dropout > 0:
            layers.append(Dropout(dropout))
        fan_in = int(width)
    layers.append(nn.Linear(fan_in, n_classes))
    return nn.Sequential(*layers)


@contextmanager
def seeded_build(seed: int) -> Iterator[None]:
    """Build a model inside this block for seeded, thread-safe initialization.

    The global torch RNG is seeded under a lock and restored afterwards.
    """
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class TrainRecord:
    """What one training run did: per-epoch curves, divergence and time.

    Example:
        >>> rec = TrainRecord(epochs_planned=2, device="cpu", train_loss=[1.0, 0.5], val_loss=[0.9, 0.7],
        ...                   val_acc=[0.6, 0.8])
        >>> rec.final_val_acc, rec.best_epoch
        (0.8, 2)
    """

    epochs_planned: int
    device: str
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    diverged_at: int | None = None  # 1-based epoch whose loss was not finite
    seconds: float = 0.0

    @property
    def epochs_run(self) -> int:
        return len(self.train_loss)

    @property
    def final_val_acc(self) -> float:
        return self.val_acc[-1] if self.val_acc else 0.0

    @property
    def best_epoch(self) -> int:
        """1-based epoch of the highest validation accuracy (0 if none)."""
        return max(range(len(self.val_acc)), key=self.val_acc.__getitem__) + 1 if self.val_acc else 0

    def __repr__(self) -> str:  # short: it appears in traces shown to an LLM
        state = f"diverged at epoch {self.diverged_at}" if self.diverged_at else f"val_acc={self.final_val_acc:.4f}"
        return f"TrainRecord({state}, epochs={self.epochs_run}/{self.epochs_planned}, {self.seconds:.2f}s)"


def _seed_dropout(model: nn.Module, generator: torch.Generator) -> None:
    """Give every dropout layer ``generator`` (torch's ``nn.Dropout`` is swapped for :class:`Dropout`)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, Dropout(child.p))
    for m in model.modules():
        if isinstance(m, Dropout):
            m.generator = generator


_OPT: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda ps, lr, wd: torch.optim.Adam(ps, lr=lr, weight_decay=wd),
    "adamw": lambda ps, lr, wd: torch.optim.AdamW(ps, lr=lr, weight_decay=wd),
    "sgd": lambda ps, lr, wd: torch.optim.SGD(ps, lr=lr, weight_decay=wd, momentum=0.9, nesterov=True),
    "rmsprop": lambda ps, lr, wd: torch.optim.RMSprop(ps, lr=lr, weight_decay=wd),
}


def train_model(
    model: nn.Module,
    data: Any,
    *,
    lr: float,
    weight_decay: float = 0.0,
    batch_size: int = 64,
    epochs: int = 10,
    optimizer: str = "adam",
    seed: int = 0,
    device: str = "cpu",
    threads: int | None = 1,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainRecord:
    """Train ``model`` with cross-entropy on ``data`` (a :class:`~tasks._torch.data.TabularData`).

    After each epoch the validation loss and accuracy are recorded and
    ``on_epoch(epoch, val_acc)`` is called; whatever it raises (e.g. ``Pruned``)
    propagates. A non-finite training loss stops the run (``diverged_at``).

    Example:
        >>> from tasks._torch.data import load_data
        >>> d = load_data("wine")
        >>> rec = train_model(build_mlp(d.n_features, d.n_classes, 16, 1), d, lr=1e-2, epochs=3)
        >>> rec.epochs_run
        3
    """
    if optimizer not in _OPT:
        raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    _seed_dropout(model, gen)
    model.to(dev)
    Xt, yt = torch.from_numpy(data.X_train).to(dev), torch.from_numpy(data.y_train).to(dev)
    Xv, yv = torch.from_numpy(data.X_val).to(dev), torch.from_numpy(data.y_val).to(dev)
    opt = _OPT[optimizer](model.parameters(), float(lr), float(weight_decay))
    loss_fn = nn.CrossEntropyLoss()
    rec = TrainRecord(epochs_planned=int(epochs), device=str(dev))
    n, bs = len(yt), max(1, int(batch_size))
    start = time.perf_counter()
    try:
        for epoch in range(1, int(epochs) + 1):
            model.train()
            total = torch.zeros((), device=dev)
            seen = 0
            for idx in torch.randperm(n, generator=gen, device=dev).split(bs):
                if len(idx) == 1 < n:  # a batch of one breaks batch normalization
                    continue
                loss = loss_fn(model(Xt[idx]), yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach() * len(idx)
                seen += len(idx)
            train_loss = float(total) / max(seen, 1)
            rec.train_loss.append(train_loss)
            if not math.isfinite(train_loss):
                rec.diverged_at = epoch
                break
            model.eval()
            with torch.no_grad():
                logits = model(Xv)
                rec.val_loss.append(float(loss_fn(logits, yv)))
                rec.val_acc.append(float((logits.argmax(1) == yv).float().mean()))
            if on_epoch is not None:
                on_epoch(epoch, rec.val_acc[-1])
    finally:
        rec.seconds = time.perf_counter() - start
    return rec


def latency_ms(
    model: nn.Module, n_features: int, *, batch_size: int = 256, repeats: int = 10, device: str = "cpu"
) -> float:
    """Median forward time of one batch in eval mode, in milliseconds."""
    dev = resolve_device(device)
    model.to(dev).eval()
    x = torch.zeros(batch_size, n_features, device=dev)
    times = []
    with torch.no_grad():
        model(x)  # warm-up
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t = time.perf_counter()
            model(x)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            times.append(time.perf_counter() - t)
    return 1000.0 * statistics.median(times)
