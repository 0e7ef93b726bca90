"""Turn preference pairs into padded tensors, once, before training.

Every pair becomes ``k`` sequences (the loss's columns, see
:data:`~.losses.SRPO_SEQUENCES`): ``<bos> prompt answer <eos>``, right-padded with
``<pad>``, with a mask over the answer tokens (``<eos>`` included) that are scored.
Batches are then index selections, so the training loop does no Python work per
example. Imports only torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .data import Pair, revision_prompt
from .tokenizer import PAD, CharTokenizer

__all__ = ["EncodedPairs", "encode_pairs", "sequence_text"]


def sequence_text(pair: Pair, column: str) -> tuple[str, str]:
    """(prompt, answer) of one column such as ``"w|l,x"`` (y_w given a revision prompt showing y_l)."""
    answer_key, _, context = column.partition("|")
    answers = {"w": pair.chosen, "l": pair.rejected}
    shown = context.split(",")[0]
    prompt = pair.prompt if shown == "x" else revision_prompt(pair.prompt, answers[shown])
    return prompt, answers[answer_key]


@dataclass(frozen=True)
class EncodedPairs:
    """``ids`` and ``loss_mask`` ``(N, k, T)`` (int64, float32), ``lengths`` ``(N, k)`` answer tokens."""

    ids: torch.Tensor
    loss_mask: torch.Tensor
    lengths: torch.Tensor
    columns: tuple[str, ...]

    def __len__(self) -> int:
        return self.ids.shape[0]

    def to(self, device: torch.device | str) -> EncodedPairs:
        return EncodedPairs(self.ids.to(device), self.loss_mask.to(device), self.lengths.to(device), self.columns)

    def single_column(self) -> EncodedPairs:
        """Every sequence as its own row (``k = 1``), e.g. for supervised training."""
        t = self.ids.shape[-1]
        ids, mask, lengths = self.ids.reshape(-1, 1, t), self.loss_mask.reshape(-1, 1, t), self.lengths.reshape(-1, 1)
        return EncodedPairs(ids, mask, lengths, ("*",))

    def batch(self, index: torch.Tensor, columns: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Flattened ``(B·k, T')`` ids and mask of rows ``index``, trimmed to the longest row."""
        ids, mask = self.ids[index], self.loss_mask[index]
        if columns is not None:
            ids, mask = ids[:, list(columns)], mask[:, list(columns)]
        ids, mask = ids.flatten(0, 1), mask.flatten(0, 1)
        width = int((ids != PAD).any(0).nonzero().max()) + 1
        return ids[:, :width], mask[:, :width]


def encode_pairs(pairs: Sequence[Pair], tokenizer: CharTokenizer, columns: Sequence[str]) -> EncodedPairs:
    """Encode ``pairs`` into the sequences named by ``columns``.

    Example:
        >>> from tasks.preference.data import Pair
        >>> e = encode_pairs([Pair("1+2=", "3", "4", "off_by_one")], CharTokenizer(), ("w|x", "l|x"))
        >>> e.ids.shape, e.lengths.tolist()
        (torch.Size([1, 2, 7]), [[2.0, 2.0]])
    """
    rows: list[list[tuple[list[int], int]]] = []
    for pair in pairs:
        row = []
        for column in columns:
            prompt, answer = sequence_text(pair, column)
            head = tokenizer.encode(prompt, bos=True)
            row.append((head + tokenizer.encode(answer, eos=True), len(head)))
        rows.append(row)
    width = max((len(seq) for row in rows for seq, _ in row), default=1)
    ids = torch.full((len(rows), len(columns), width), PAD, dtype=torch.long)
    loss_mask = torch.zeros(len(rows), len(columns), width)
    for i, row in enumerate(rows):
        for j, (seq, start) in enumerate(row):
            ids[i, j, : len(seq)] = torch.tensor(seq)
            loss_mask[i, j, start : len(seq)] = 1.0
    return EncodedPairs(ids, loss_mask, loss_mask.sum(-1), tuple(columns))
