"""Preference losses against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from tasks.preference.losses import (
    LOSSES,
    SRPO_SEQUENCES,
    dpo_loss,
    ipo_loss,
    preference_loss,
    sequences_for,
    simpo_loss,
    srpo_loss,
)


def _close(t: torch.Tensor, expected: float) -> None:
    assert float(t) == pytest.approx(expected, abs=1e-6)


def test_every_log_ratio_zero() -> None:
    zeros2, zeros6 = torch.zeros(3, 2), torch.zeros(3, 6)
    assert torch.allclose(dpo_loss(zeros2, zeros2, beta=0.3), torch.full((3,), math.log(2)))
    assert torch.allclose(ipo_loss(zeros2, zeros2, beta=0.1), torch.full((3,), 25.0))  # (1/(2β))²
    for alpha in (0.0, 0.5, 0.8, 1.0):
        assert torch.allclose(srpo_loss(zeros6, zeros6, alpha=alpha), torch.full((3,), (1 - alpha) + alpha / 2))
    # SimPO with equal average log-probs: -log σ(-γ), γ = β·ratio
    _close(simpo_loss(torch.zeros(1, 2), torch.ones(1, 2), beta=2.0, gamma_beta_ratio=0.5)[0], math.log1p(math.e))


def test_dpo_hand_case_with_label_smoothing() -> None:
    policy, reference = torch.tensor([[-1.0, -3.0]]), torch.tensor([[-2.0, -2.0]])
    # h = (−1+2) − (−3+2) = 2, βh = 1
    _close(dpo_loss(policy, reference, beta=0.5)[0], math.log1p(math.exp(-1)))
    smoothed = 0.9 * math.log1p(math.exp(-1)) + 0.1 * math.log1p(math.exp(1))
    _close(dpo_loss(policy, reference, beta=0.5, label_smoothing=0.1)[0], smoothed)
    _close(ipo_loss(policy, reference, beta=0.5)[0], (2 - 1) ** 2)


def test_simpo_is_length_normalized_with_margin_beta_times_ratio() -> None:
    policy, lengths = torch.tensor([[-2.0, -6.0]]), torch.tensor([[2.0, 3.0]])
    # averages −1 and −2; logits = β·(1 − ratio) = 2·0.75 = 1.5
    _close(simpo_loss(policy, lengths, beta=2.0, gamma_beta_ratio=0.25)[0], math.log1p(math.exp(-1.5)))
    # the same sums over other lengths give another loss: it is not DPO on sums
    other = simpo_loss(policy, torch.tensor([[1.0, 1.0]]), beta=2.0, gamma_beta_ratio=0.25)
    _close(other[0], math.log1p(math.exp(-2.0 * (4 - 0.25))))


def test_srpo_hand_case_subtracts_the_reference() -> None:
    r = torch.tensor([[1.0, -1.0, 2.0, 0.0, 0.5, -0.5]])  # columns in SRPO_SEQUENCES order
    reference = torch.tensor([[-3.0, -1.5, -2.0, -7.0, -0.25, -4.0]])
    # revise = (½ − ½·2)² + (½ − ½·1)² = 0.25 ; joint = (½·(2 + 1 + 0.5 + 1) − 1)² = 1.5625
    expected = 0.8 * 0.25 + 0.2 * 1.5625
    _close(srpo_loss(r + reference, reference, beta=0.5, alpha=0.8)[0], expected)
    assert len(SRPO_SEQUENCES) == 6 and sequences_for("srpo") == SRPO_SEQUENCES


def test_gradients_push_chosen_up_and_rejected_down() -> None:
    for loss in LOSSES:
        k = len(sequences_for(loss))
        policy = torch.full((2, k), -2.0, requires_grad=True)
        reference = torch.full((2, k), -2.0)
        preference_loss(loss, policy, reference, torch.ones(2, k), beta=0.5).sum().backward()
        grad = policy.grad[:, :2] if loss != "srpo" else policy.grad[:, 2:4]  # y_w vs y_l
        assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all(), loss


def test_dispatch_errors_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="use one of"):
        preference_loss("kto", torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2), beta=0.1)
    with pytest.raises(ValueError, match="reference"):
        preference_loss("dpo", torch.zeros(1, 2), None, torch.ones(1, 2), beta=0.1)
    assert preference_loss("simpo", torch.zeros(1, 2), None, torch.ones(1, 2), beta=0.1).shape == (1,)
