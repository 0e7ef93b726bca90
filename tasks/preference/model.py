"""A tiny causal transformer language model in plain torch, built from a config.

Pre-norm GPT blocks (causal self-attention through
``torch.nn.functional.scaled_dot_product_attention``, a GELU MLP), learned
positions, and an output head tied to the token embedding. With the default
config it has about 0.1 M parameters (the task caps it at 1 M). Imports only torch.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ModelConfig", "TinyLM", "sequence_logps", "autocast_for"]


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of :class:`TinyLM`.

    Example:
        >>> ModelConfig(d_model=32, n_layer=1).n_head
        4
    """

    vocab_size: int = 47
    d_model: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_ff: int = 256
    max_len: int = 32
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_head ({self.n_head})")

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


class _Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_head, d // self.n_head).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        if mask is None:
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        else:
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    """A small causal LM: ``forward(ids) -> logits`` of shape ``(batch, time, vocab)``.

    ``seed`` fixes the initial weights (with a private generator). Right padding
    needs no mask (causal attention never looks ahead). Left padding (used for
    batched generation) needs ``attention_mask`` (1 = token, 0 = pad); positions
    then count real tokens only, so a padded row gives the same logits as the
    unpadded one.

    Example:
        >>> m = TinyLM(ModelConfig(d_model=16, n_layer=1, n_head=2, d_ff=32))
        >>> m(torch.tensor([[1, 5, 6]])).shape
        torch.Size([1, 3, 47])
    """

    def __init__(self, cfg: ModelConfig, *, seed: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        # a private generator: the weights depend on ``seed`` alone, not on the global RNG state
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02, generator=gen)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        t = ids.shape[1]
        if t > self.cfg.max_len:
            raise ValueError(f"sequence of {t} tokens exceeds max_len={self.cfg.max_len}; raise ModelConfig.max_len")
        if attention_mask is None:
            pos, mask = torch.arange(t, device=ids.device), None
        else:
            keep = attention_mask.bool()
            pos = (keep.long().cumsum(-1) - 1).clamp(min=0)
            causal = torch.ones(t, t, dtype=torch.bool, device=ids.device).tril()
            eye = torch.eye(t, dtype=torch.bool, device=ids.device)  # a pad query attends to itself: no NaN rows
            mask = ((causal & keep[:, None, :]) | eye)[:, None]
        x = self.tok(ids) + self.pos(pos)
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_f(x) @ self.tok.weight.T


def sequence_logps(
    model: nn.Module, ids: torch.Tensor, loss_mask: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence sums of answer-token log-probabilities, and answer lengths.

    Args:
        model: maps ids ``(B, T)`` to logits ``(B, T, V)``.
        ids: token ids, ``(B, T)``.
        loss_mask: 1 where ``ids[:, t]`` is an answer token to score (``(B, T)``;
            position 0 is never scored since nothing predicts it).
        attention_mask: optional, for left-padded rows.

    Returns:
        ``(logp_sum, n_tokens)``, both ``(B,)`` and float32.
    """
    logits = model(ids, attention_mask)[:, :-1].float()
    targets, mask = ids[:, 1:], loss_mask[:, 1:].float()
    token_logps = torch.gather(logits.log_softmax(-1), 2, targets.unsqueeze(-1)).squeeze(-1)
    return (token_logps * mask).sum(-1), mask.sum(-1)


def token_kl(
    model: nn.Module, reference: nn.Module, ids: torch.Tensor, loss_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence sums of ``KL(model || reference)`` over the whole vocabulary at each
    answer position (teacher-forced on ``ids``), and answer lengths; both ``(B,)`` float32.

    Example:
        >>> cfg = ModelConfig(d_model=16, n_layer=1, n_head=2, d_ff=32)
        >>> m, ids, mask = TinyLM(cfg, seed=0), torch.tensor([[1, 5, 6]]), torch.tensor([[0, 1, 1]])
        >>> float(token_kl(m, m, ids, mask)[0][0]), float(token_kl(m, TinyLM(cfg, seed=1), ids, mask)[0][0]) > 0
        (0.0, True)
    """
    logp = model(ids)[:, :-1].float().log_softmax(-1)
    logq = reference(ids)[:, :-1].float().log_softmax(-1)
    kl = (logp.exp() * (logp - logq)).sum(-1)
    mask = loss_mask[:, 1:].float()
    return (kl * mask).sum(-1), mask.sum(-1)


def autocast_for(device: torch.device | str) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA; nothing (full float32) on CPU."""
    if torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
