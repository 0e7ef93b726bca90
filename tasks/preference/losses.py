"""Preference-optimization losses: DPO (and IPO), SimPO and SRPO, in torch.

Each loss is a pure function of per-sequence log-probabilities (sums over answer
tokens) of the policy and, where used, of the frozen reference model, plus answer
lengths for SimPO. They return one loss per pair (``(B,)``); the trainer averages.

Log-probabilities come as ``(B, k)`` tensors whose columns are the sequences of a
pair in a fixed order: :data:`PAIR_SEQUENCES` (chosen, rejected) for DPO, IPO and
SimPO, :data:`SRPO_SEQUENCES` (six sequences) for SRPO. Imports only torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "LOSSES",
    "PAIR_SEQUENCES",
    "SRPO_SEQUENCES",
    "dpo_loss",
    "ipo_loss",
    "simpo_loss",
    "srpo_loss",
    "preference_loss",
    "sequences_for",
]

LOSSES = ("dpo", "ipo", "simpo", "srpo")
#: columns for DPO / IPO / SimPO: y_w given x, y_l given x
PAIR_SEQUENCES = ("w|x", "l|x")
#: columns for SRPO: the two answers given x, then each answer given a revision prompt
#: that shows y_l, then given one that shows y_w
SRPO_SEQUENCES = ("w|x", "l|x", "w|l,x", "l|l,x", "w|w,x", "l|w,x")


def sequences_for(loss: str) -> tuple[str, ...]:
    """The sequence columns a loss needs (see :data:`SRPO_SEQUENCES`)."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; use one of {LOSSES}")
    return SRPO_SEQUENCES if loss == "srpo" else PAIR_SEQUENCES


def _smoothed_logsigmoid_loss(logits: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    return -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)


def dpo_loss(
    policy: torch.Tensor, reference: torch.Tensor, *, beta: float = 0.1, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Direct Preference Optimization (Rafailov et al. 2023, arXiv 2305.18290).

    ``-log σ(β[(log π(y_w|x) − log π_ref(y_w|x)) − (log π(y_l|x) − log π_ref(y_l|x))])``.
    With ``label_smoothing = ε > 0`` the labels are taken as flipped with
    probability ε (conservative DPO): ``-(1−ε)·log σ(βh) − ε·log σ(−βh)``.

    Args:
        policy: ``(B, 2)`` log-probs of (y_w, y_l) under the policy.
        reference: ``(B, 2)`` the same under the frozen reference.
        beta: inverse temperature β (strength of the KL anchor).
        label_smoothing: ε in ``[0, 0.5)``.

    Example:
        >>> float(dpo_loss(torch.zeros(1, 2), torch.zeros(1, 2)))  # log 2
        0.6931471824645996
    """
    h = (policy[:, 0] - reference[:, 0]) - (policy[:, 1] - reference[:, 1])
    return _smoothed_logsigmoid_loss(beta * h, label_smoothing)


def ipo_loss(
    policy: torch.Tensor, reference: torch.Tensor, *, beta: float = 0.1, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Identity Preference Optimization (Azar et al. 2023, arXiv 2310.12036), DPO's squared variant.

    ``(h − 1/(2β))²`` with ``h`` the log-ratio difference of :func:`dpo_loss`; the
    margin is pulled towards ``1/(2β)`` instead of pushed to infinity.

    Two forms are in use and the same β trains very differently with them:

    - per sequence (the default, the paper's formula): ``h`` is made of log-probs
      summed over the answer's tokens, so the target margin ``1/(2β)`` is per answer;
    - per token (TRL's ``loss_type="ipo"``): pass ``lengths`` and each sequence's
      log-ratio is divided by its answer length first, so the margin is per token.

    Args:
        policy: ``(B, 2)`` summed log-probs of (y_w, y_l) under the policy.
        reference: ``(B, 2)`` the same under the frozen reference.
        beta: β; the target margin is ``1/(2β)``.
        lengths: ``(B, 2)`` answer lengths in tokens, for the per-token form.

    Example:
        >>> p, r = torch.tensor([[-2.0, -6.0]]), torch.zeros(1, 2)
        >>> float(ipo_loss(p, r, beta=0.5)), float(ipo_loss(p, r, beta=0.5, lengths=torch.tensor([[2, 4]])))
        (9.0, 0.25)
    """
    ratio = policy - reference
    if lengths is not None:
        ratio = ratio / lengths.to(ratio.dtype).clamp(min=1)
    h = ratio[:, 0] - ratio[:, 1]
    return (h - 1 / (2 * beta)) ** 2


def simpo_loss(
    policy: torch.Tensor,
    lengths: torch.Tensor,
    *,
    beta: float = 2.0,
    gamma_beta_ratio: float = 0.5,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Simple Preference Optimization (Meng et al. 2024, arXiv 2405.14734): no reference.

    ``-log σ(β/|y_w|·log π(y_w|x) − β/|y_l|·log π(y_l|x) − γ)``, length-normalized.

    The paper's parametrization is used: β and the ratio γ/β, so the margin is
    ``γ = β · gamma_beta_ratio`` and the loss is
    ``-log σ(β·(avg log π(y_w) − avg log π(y_l) − gamma_beta_ratio))``. To use an
    absolute margin γ (as some implementations do), pass
    ``gamma_beta_ratio = γ / β``; changing β then keeps the ratio, not γ, fixed.

    Args:
        policy: ``(B, 2)`` summed log-probs of (y_w, y_l).
        lengths: ``(B, 2)`` their token counts |y_w|, |y_l|.
        beta: reward scale β (the paper uses 2.0-2.5).
        gamma_beta_ratio: γ/β (the paper tunes it per model; values near 0.5 are common).
        label_smoothing: ε as in :func:`dpo_loss`.

    Example:
        >>> l = simpo_loss(torch.tensor([[-1.0, -4.0]]), torch.tensor([[1.0, 2.0]]), beta=2.0, gamma_beta_ratio=0.5)
        >>> round(float(l), 4)  # -log σ(2·(-1 - (-2) - 0.5)) = -log σ(1)
        0.3133
    """
    avg = policy / lengths.clamp(min=1)
    return _smoothed_logsigmoid_loss(beta * (avg[:, 0] - avg[:, 1] - gamma_beta_ratio), label_smoothing)


def srpo_loss(policy: torch.Tensor, reference: torch.Tensor, *, beta: float = 0.1, alpha: float = 0.8) -> torch.Tensor:
    """Self-Improving Robust Preference Optimization (Choi et al. 2024, arXiv 2406.01660).

    One model is both the generative policy π(y|x) and the self-improvement policy
    π(y'|y, x), which sees a previous answer ``y`` in a revision prompt. With the
    per-sequence log-ratio ``r(·) = log π(·) − log π_ref(·)``::

        α·[(½ − β(r(y_w|y_l,x) − r(y_l|y_l,x)))² + (½ − β(r(y_w|y_w,x) − r(y_l|y_w,x)))²]
        + (1−α)·(β[r(y_w|y_l,x) + r(y_w|x) − r(y_l|y_w,x) − r(y_l|x)] − 1)²

    The first term teaches revision (from either answer, prefer y_w), the second
    ties generation and revision together. With every log-ratio 0 it is
    ``α/2 + (1−α)``. At inference the model answers, then revises its own answer
    N times (see ``tasks.preference.generate.self_revise``).

    Args:
        policy: ``(B, 6)`` log-probs in the order of :data:`SRPO_SEQUENCES`.
        reference: ``(B, 6)`` the same under the frozen reference.
        beta: β, the scale of the log-ratios.
        alpha: α in ``[0, 1]``, weight of the revision term (paper default 0.8).

    Example:
        >>> float(srpo_loss(torch.zeros(1, 6), torch.zeros(1, 6), alpha=0.8))  # 0.2 + 0.4
        0.6000000238418579
    """
    r = policy - reference
    w_x, l_x, w_lx, l_lx, w_wx, l_wx = r.unbind(-1)
    revise = (0.5 - beta * (w_lx - l_lx)) ** 2 + (0.5 - beta * (w_wx - l_wx)) ** 2
    joint = (beta * (w_lx + w_x - l_wx - l_x) - 1) ** 2
    return alpha * revise + (1 - alpha) * joint


def preference_loss(
    loss: str,
    policy: torch.Tensor,
    reference: torch.Tensor | None,
    lengths: torch.Tensor,
    *,
    beta: float,
    label_smoothing: float = 0.0,
    gamma_beta_ratio: float = 0.5,
    alpha: float = 0.8,
    ipo_per_token: bool = False,
) -> torch.Tensor:
    """Dispatch on ``loss`` (one of :data:`LOSSES`); returns the per-pair losses ``(B,)``.

    ``reference`` may be None only for ``"simpo"``. ``ipo_per_token`` selects TRL's
    per-token IPO instead of the per-sequence form (see :func:`ipo_loss`).
    """
    if loss == "simpo":
        return simpo_loss(
            policy, lengths, beta=beta, gamma_beta_ratio=gamma_beta_ratio, label_smoothing=label_smoothing
        )
    if reference is None:
        raise ValueError(f"loss {loss!r} needs reference log-probs; only 'simpo' is reference-free")
    if loss == "dpo":
        return dpo_loss(policy, reference, beta=beta, label_smoothing=label_smoothing)
    if loss == "ipo":
        return ipo_loss(policy, reference, beta=beta, lengths=lengths if ipo_per_token else None)
    if loss == "srpo":
        return srpo_loss(policy, reference, beta=beta, alpha=alpha)
    raise ValueError(f"unknown loss {loss!r}; use one of {LOSSES}")
