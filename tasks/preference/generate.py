"""Greedy generation and inference-time self-revision for :class:`~.model.TinyLM`.

Self-revision (SRPO, Choi et al. 2024): answer a prompt, then show the model its
own answer in a revision prompt (:func:`~.data.revision_prompt`) and let it answer
again, N times. Imports only torch (and the package's torch-free modules).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .data import revision_prompt
from .model import autocast_for
from .tokenizer import EOS, PAD, CharTokenizer

__all__ = ["greedy_generate", "self_revise"]


@torch.no_grad()
def greedy_generate(
    model: nn.Module,
    tokenizer: CharTokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 6,
    batch_size: int = 512,
) -> list[str]:
    """Greedy answers to ``prompts`` (left-padded batches, stops at ``<eos>``).

    Example:
        >>> from tasks.preference.model import ModelConfig, TinyLM
        >>> m = TinyLM(ModelConfig(d_model=16, n_layer=1, n_head=2, d_ff=32)).eval()
        >>> len(greedy_generate(m, CharTokenizer(), ["1+2=", "r:ab="], max_new_tokens=2))
        2
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        encoded = [tokenizer.encode(p, bos=True) for p in prompts[start : start + batch_size]]
        width = max(map(len, encoded))
        ids = torch.tensor([[PAD] * (width - len(e)) + e for e in encoded], device=device)
        pads = torch.tensor([width - len(e) for e in encoded], device=device)
        mask = (torch.arange(width, device=device) >= pads[:, None]).long()
        done = torch.zeros(len(encoded), dtype=torch.bool, device=device)
        for _ in range(max_new_tokens):
            with autocast_for(device):
                nxt = model(ids, mask)[:, -1].argmax(-1)
            ids = torch.cat([ids, nxt[:, None]], 1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            done |= nxt == EOS
            if bool(done.all()):
                break
        answers += [tokenizer.decode(row[width:].tolist()) for row in ids.cpu()]
    model.train(was_training)
    return answers


def self_revise(
    model: nn.Module, tokenizer: CharTokenizer, prompts: Sequence[str], revisions: int, **kwargs: int
) -> list[list[str]]:
    """Answers after 0, 1, ..., ``revisions`` self-revisions: ``out[k][i]`` for prompt ``i``.

    Revision ``k+1`` answers ``revision_prompt(prompt, out[k][i])``.
    """
    rounds = [greedy_generate(model, tokenizer, prompts, **kwargs)]
    for _ in range(revisions):
        rounds.append(
            greedy_generate(model, tokenizer, [revision_prompt(p, a) for p, a in zip(prompts, rounds[-1])], **kwargs)
        )
    return rounds
