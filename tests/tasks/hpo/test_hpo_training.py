"""The torch training helpers (tasks._torch): data, training loop, curves, determinism."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tasks._torch.curve import condensed_epochs, diagnose, format_curve
from tasks._torch.data import load_data
from tasks._torch.train import Dropout, build_mlp, seeded_build, train_model

ROOT = Path(__file__).resolve().parents[3]


def _fit(seed: int, **kw):
    data = load_data("digits", max_train=200)
    with seeded_build(seed):
        model = build_mlp(data.n_features, data.n_classes, 16, 1, dropout=0.2)
    return train_model(model, data, **{"lr": 1e-2, "epochs": 3, "seed": seed, **kw})


def test_load_data_splits_standardizes_and_recodes_labels():
    d = load_data("wine")
    assert (d.n_features, d.n_classes) == (13, 3)
    assert len(d.y_val) == pytest.approx(0.25 * 178, abs=1)
    assert np.allclose(d.X_train.mean(axis=0), 0, atol=1e-5)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.array(["a", "b"] * 20)
    custom = load_data((X, y), val_fraction=0.5)
    assert custom.n_classes == 2 and set(custom.y_train) == {0, 1}
    with pytest.raises(ValueError, match="unknown dataset"):
        load_data("mnist")


def test_training_is_deterministic_per_seed_even_in_parallel_threads():
    serial = [_fit(s).val_loss for s in (0, 1)]
    assert serial[0] != serial[1]
    results: dict[int, list[float]] = {}
    threads = [threading.Thread(target=lambda s=s: results.__setitem__(s, _fit(s).val_loss)) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[0], results[1]] == serial


def test_nan_loss_stops_training_as_divergence():
    rec = _fit(0, lr=1e6, optimizer="sgd", epochs=6)
    assert rec.diverged_at is not None and rec.epochs_run == rec.diverged_at < 6
    assert not math.isfinite(rec.train_loss[-1])
    assert "diverged" in diagnose(rec, 10)[0]


def test_on_epoch_receives_every_epoch_and_can_stop_training():
    seen: list[tuple[int, float]] = []

    def stop_at_two(epoch: int, acc: float) -> None:
        seen.append((epoch, acc))
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(0, epochs=5, on_epoch=stop_at_two)
    assert [e for e, _ in seen] == [1, 2] and all(0 <= a <= 1 for _, a in seen)


def test_curve_text_is_condensed_with_first_and_last_epoch():
    assert condensed_epochs(3) == [1, 2, 3]
    rows = condensed_epochs(30, 6)
    assert rows[0] == 1 and rows[-1] == 30 and len(rows) == 6
    text = format_curve(_fit(0, epochs=12), max_rows=4)
    assert text.startswith("learning curve (12 epochs")
    assert len(text.splitlines()) == 5 and "   12: " in text


def test_training_code_imports_only_torch_numpy_sklearn():
    """The training modules run on a machine without pydantic, optuna or trace_core."""
    script = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'pydantic', 'optuna', 'trace_core', 'litellm', 'agents', 'optimizers'}:
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
from tasks._torch.data import load_data
from tasks._torch.train import build_mlp, train_model
from tasks.nas.build import from_layers, compile_build
d = load_data('iris')
rec = train_model(build_mlp(d.n_features, d.n_classes, 8, 1), d, lr=0.01, epochs=2)
compile_build('def build(in_features, n_classes):\\n    return nn.Linear(in_features, n_classes)')
print(rec.epochs_run)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"


def test_torch_dropout_layers_get_the_run_generator():
    data = load_data("iris")

    def fit() -> list[float]:
        with seeded_build(0):
            model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
        rec = train_model(model, data, lr=1e-2, epochs=3, seed=3)
        assert isinstance(model[2], Dropout)
        return rec.val_loss

    first = fit()
    torch.rand(100)  # the global RNG moves on; the result must not
    assert fit() == first
