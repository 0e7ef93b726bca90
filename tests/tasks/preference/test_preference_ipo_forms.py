"""IPO's two forms: per sequence (summed log-probs, the default) and per token (TRL's)."""

from __future__ import annotations

import pytest
import torch

from tasks.preference.losses import ipo_loss, preference_loss


def test_per_sequence_is_the_default_and_per_token_divides_by_answer_length() -> None:
    policy, reference = torch.tensor([[-4.0, -12.0]]), torch.tensor([[-2.0, -4.0]])
    lengths = torch.tensor([[2, 8]])
    beta = 0.25  # target margin 1/(2β) = 2
    # per sequence: h = (−4+2) − (−12+4) = 6
    assert float(ipo_loss(policy, reference, beta=beta)[0]) == pytest.approx((6 - 2) ** 2)
    # per token: h = (−2)/2 − (−8)/8 = 0
    assert float(ipo_loss(policy, reference, beta=beta, lengths=lengths)[0]) == pytest.approx((0 - 2) ** 2)


def test_preference_loss_offers_the_per_token_form() -> None:
    policy, reference = torch.tensor([[-4.0, -12.0]]), torch.tensor([[-2.0, -4.0]])
    lengths = torch.tensor([[2, 8]])
    summed = preference_loss("ipo", policy, reference, lengths, beta=0.25)
    averaged = preference_loss("ipo", policy, reference, lengths, beta=0.25, ipo_per_token=True)
    assert float(summed[0]) == pytest.approx(16.0) and float(averaged[0]) == pytest.approx(4.0)


def test_the_trainer_passes_the_per_token_choice_to_the_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from tasks.preference import trainer as trainer_module
    from tasks.preference.data import make_splits
    from tasks.preference.model import ModelConfig

    seen: list[bool] = []

    def spy(*args, **kwargs):
        seen.append(kwargs.get("ipo_per_token", False))
        return preference_loss(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "preference_loss", spy)
    cfg = trainer_module.TrainConfig(loss="ipo", steps=1, warmup_steps=1, batch_size=4, eval_every=0, revisions=0)
    splits, tiny = make_splits(("add",), max_operand=10), ModelConfig(d_model=16, n_layer=1, n_head=2, d_ff=32)
    for per_token in (False, True):
        t = trainer_module.Trainer(dataclasses.replace(cfg, ipo_per_token=per_token), splits, tiny)
        t.warm_up()
        t.train_step(torch.arange(4))
    assert seen == [False, True]


def test_the_task_option_reaches_the_training_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.preference import task as task_module
    from tasks.preference.trainer import Diverged

    configs = []

    class Recorder:
        def __init__(self, cfg, *args, **kwargs):
            configs.append(cfg)
            self.step = 0

        def warm_up(self):
            raise Diverged("recorded", step=0, loss=float("nan"))

    monkeypatch.setattr(task_module, "Trainer", Recorder)
    for per_token in (False, True):
        task = task_module.PreferenceTask(max_operand=10, ipo_per_token=per_token, cache_warmup=False,
                                          initial={"loss": "ipo"})
        task.run(0)
        assert task.spec()["options"]["ipo_per_token"] is per_token
    assert [c.ipo_per_token for c in configs] == [False, True]
