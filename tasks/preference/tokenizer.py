"""A character-level tokenizer for the preference task's tiny language model.

The vocabulary is fixed and small (digits, lower-case letters, a few symbols and
three specials), so the embedding table stays tiny and no file is downloaded.
Imports only the standard library.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

__all__ = ["CharTokenizer", "PAD", "BOS", "EOS"]

PAD, BOS, EOS = 0, 1, 2
_SPECIALS = ("<pad>", "<bos>", "<eos>")
_CHARS = string.digits + string.ascii_lowercase + "+-=|?:, "


class CharTokenizer:
    """Maps characters to ids and back; ``<pad>=0``, ``<bos>=1``, ``<eos>=2``.

    Example:
        >>> tok = CharTokenizer()
        >>> ids = tok.encode("12+7=", bos=True)
        >>> ids[0] == BOS, tok.decode(ids)
        (True, '12+7=')
    """

    pad_id, bos_id, eos_id = PAD, BOS, EOS

    def __init__(self, chars: str = _CHARS) -> None:
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer: the character set has duplicates; pass each character once")
        self.chars = chars
        self._ids = {c: i + len(_SPECIALS) for i, c in enumerate(chars)}

    @property
    def vocab_size(self) -> int:
        """Number of ids, specials included."""
        return len(_SPECIALS) + len(self.chars)

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of ``text``, optionally framed by ``<bos>`` / ``<eos>``.

        Raises:
            ValueError: a character outside the vocabulary (the message names it).
        """
        try:
            ids = [self._ids[c] for c in text]
        except KeyError as exc:
            raise ValueError(
                f"CharTokenizer: character {exc.args[0]!r} is not in the vocabulary {self.chars!r}; "
                "use only these characters in prompts and answers"
            ) from None
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``: stops at the first ``<eos>``, skips ``<pad>`` and ``<bos>``."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i >= len(_SPECIALS):
                out.append(self.chars[i - len(_SPECIALS)])
        return "".join(out)
