"""The trainer: frozen reference, caching, divergence, checkpoints, every loss runs."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tasks.preference.data import make_splits
from tasks.preference.losses import LOSSES
from tasks.preference.model import ModelConfig
from tasks.preference.trainer import Diverged, TrainConfig, Trainer

SPLITS = make_splits(("add",), max_operand=20)
TINY = ModelConfig(d_model=32, n_layer=1, n_head=2, d_ff=64)
CFG = TrainConfig(steps=6, warmup_steps=10, batch_size=8, eval_every=3, log_every=2, revisions=1, max_new_tokens=4)


def _trainer(**changes) -> Trainer:
    return Trainer(dataclasses.replace(CFG, **changes), SPLITS, TINY)


def test_gradients_reach_only_the_policy() -> None:
    trainer = _trainer(loss="dpo", lr=1e-2)
    trainer.warm_up()
    ref_before = {k: v.clone() for k, v in trainer.reference.state_dict().items()}
    pol_before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    cached = trainer.reference_logps["train"].clone()
    trainer.train_step(torch.arange(8))
    assert all(p.grad is None and not p.requires_grad for p in trainer.reference.parameters())
    assert all(torch.equal(v, ref_before[k]) for k, v in trainer.reference.state_dict().items())
    assert any(not torch.equal(v, pol_before[k]) for k, v in trainer.model.state_dict().items())
    assert all(p.grad is not None for p in trainer.model.parameters())
    # the cache holds the frozen reference's log-probs, computed once
    assert torch.equal(trainer.reference_logps["train"], cached)
    assert torch.allclose(trainer._logps(trainer.reference, trainer.train_data), cached, atol=1e-5)


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains_and_reports(loss: str) -> None:
    result = _trainer(loss=loss, beta=2.0 if loss == "simpo" else 0.1).train()
    assert [s for s, _ in result.losses] == list(range(1, 7))
    assert [int(e["step"]) for e in result.evals] == [3, 6]
    val = result.final["val"]
    for key in ("preference_accuracy", "reward_margin", "exact_match", "win_rate", "reference_exact_match"):
        assert key in val and val[key] == val[key]  # present, not NaN
    assert len(val["revision_accuracy"]) == 2 and val["revision_accuracy"][0] == val["exact_match"]
    assert set(result.final) == {"val", "test"}


def test_simpo_needs_no_reference_for_training_pairs() -> None:
    simpo, srpo = _trainer(loss="simpo"), _trainer(loss="srpo")
    simpo.warm_up()
    srpo.warm_up()
    assert set(simpo.reference_logps) == {"val", "test"}
    assert srpo.reference_logps["train"].shape == (len(SPLITS.train), 6)  # six sequences per pair


def test_preference_steps_raise_the_held_out_margin() -> None:
    result = _trainer(loss="dpo", lr=3e-3, steps=40, eval_every=0, revisions=0, warmup_steps=30).train()
    assert result.final["val"]["reward_margin"] > 0.5
    assert result.losses[-1][1] < result.losses[0][1]


def test_a_huge_learning_rate_diverges_with_a_reason() -> None:
    with pytest.raises(Diverged, match="lower the learning rate") as info:
        _trainer(loss="dpo", lr=1e8, steps=20).train()
    assert info.value.step <= 20


def test_checkpoint_resume_repeats_the_uninterrupted_run(tmp_path: Path) -> None:
    full = _trainer(steps=6, eval_every=0)
    full.train()
    first = _trainer(steps=3, eval_every=0, checkpoint_dir=str(tmp_path), checkpoint_every=3)
    first.train()
    resumed = _trainer(steps=6, eval_every=0)
    resumed.load_checkpoint(tmp_path / "last.pt")
    assert resumed.step == 3
    result = resumed.train()
    assert [s for s, _ in result.losses] == list(range(1, 7))
    for k, v in full.model.state_dict().items():
        assert torch.allclose(v, resumed.model.state_dict()[k], atol=1e-6), k


def test_torch_parts_import_without_the_rest_of_tracetune() -> None:
    code = (
        "import sys, tasks.preference.trainer, tasks.preference.losses, tasks.preference.model, tasks.preference.data\n"
        "bad = [m for m in ('trace_core', 'pydantic', 'optuna', 'litellm') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, env={"PYTHONPATH": str(root)})


@pytest.mark.gpu
def test_cuda_training_under_bf16_autocast() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    result = _trainer(loss="srpo", device="cuda").train()
    assert all(v == v for _, v in result.losses) and result.final["val"]["exact_match"] >= 0.0
