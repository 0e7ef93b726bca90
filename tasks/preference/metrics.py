"""Metrics of a preference-tuned model, from log-probs and generations.

- ``preference_accuracy``: share of held-out pairs where the policy gives the
  chosen answer a higher log-likelihood than the rejected one (loss-independent).
- ``reward_accuracy`` / ``reward_margin``: with the implicit reward
  ``r = log π − log π_ref`` (in nats, not scaled by β), the share of pairs with
  ``r(y_w) > r(y_l)`` and the mean of ``r(y_w) − r(y_l)``. A margin that keeps
  rising while the accuracies fall is the sign of over-optimization.
- ``kl_to_reference``: how far the policy moved from the reference, the mean per-token
  ``KL(π || π_ref)`` in nats over the vocabulary at each position of the held-out chosen
  answers (teacher-forced; computed by the trainer, :func:`~.model.token_kl`). The usual
  price of preference optimization: a second objective to keep small.
- ``exact_match``: share of prompts whose greedy answer is correct (checked by
  :func:`~.data.solve`).
- ``win_rate``: against the reference model's greedy answers: a win when only the
  policy is right, a loss when only the reference is, ties count half.
- ``revision_accuracy``: exact match after 0, 1, ..., N self-revisions.

Imports only torch and the package's torch-free modules.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .data import solve

__all__ = ["pair_metrics", "exact_match", "win_rate"]


def pair_metrics(policy: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Preference metrics of ``(N, 2)`` log-probs of (chosen, rejected).

    Example:
        >>> m = pair_metrics(torch.tensor([[-1.0, -3.0], [-2.0, -1.0]]), torch.tensor([[-2.0, -2.0], [-2.0, -2.0]]))
        >>> m["preference_accuracy"], m["reward_margin"]
        (0.5, 0.5)
    """
    policy, reference = policy.float(), reference.float()
    reward = policy - reference
    margin = reward[:, 0] - reward[:, 1]
    return {
        "preference_accuracy": float((policy[:, 0] > policy[:, 1]).float().mean()),
        "reward_accuracy": float((margin > 0).float().mean()),
        "reward_margin": float(margin.mean()),
        "chosen_reward": float(reward[:, 0].mean()),
        "rejected_reward": float(reward[:, 1].mean()),
        "chosen_logp": float(policy[:, 0].mean()),
    }


def exact_match(prompts: Sequence[str], answers: Sequence[str]) -> float:
    """Share of ``answers`` equal to the true answer of their prompt.

    Example:
        >>> exact_match(["1+2=", "r:ab="], ["3", "ab"])
        0.5
    """
    if not prompts:
        return 0.0
    return sum(solve(p) == a for p, a in zip(prompts, answers, strict=True)) / len(prompts)


def win_rate(prompts: Sequence[str], answers: Sequence[str], reference_answers: Sequence[str]) -> float:
    """Win rate of ``answers`` against ``reference_answers`` judged by correctness.

    Example:
        >>> win_rate(["1+2=", "2+2="], ["3", "5"], ["4", "5"])  # one win, one tie
        0.75
    """
    if not prompts:
        return 0.5
    score = 0.0
    for p, a, b in zip(prompts, answers, reference_answers, strict=True):
        truth = solve(p)
        score += 0.5 + 0.5 * ((a == truth) - (b == truth))
    return score / len(prompts)
