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
