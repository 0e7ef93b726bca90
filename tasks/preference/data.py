"""Preference pairs generated in code, with a checkable truth.

Two families of prompts, each with an answer :func:`solve` recomputes:

- ``add``: ``"12+7="`` → ``"19"`` (operands below ``max_operand``);
- ``rev``: ``"r:abc="`` → ``"cba"`` (words of 2-4 letters from ``letters``).

The chosen answer is the correct one; the rejected answer is wrong in one
controlled way, named by ``Pair.corruption``:

- ``off_by_one``: the sum ±1, or one letter moved to its neighbour in the alphabet;
- ``reversed``: the correct answer backwards (skipped for palindromes);
- ``truncated``: the correct answer without its last character.

Splits are over distinct prompts (no prompt is in two splits) and depend only on
``seed``, so every trial sees the same data. Imports only the standard library.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Pair", "Splits", "CORRUPTIONS", "solve", "corrupt", "revision_prompt", "make_splits"]

CORRUPTIONS = ("off_by_one", "reversed", "truncated")


@dataclass(frozen=True)
class Pair:
    """One preference pair: ``chosen`` is correct for ``prompt``, ``rejected`` is not.

    Example:
        >>> Pair("2+3=", "5", "6", "off_by_one").chosen
        '5'
    """

    prompt: str
    chosen: str
    rejected: str
    corruption: str


@dataclass(frozen=True)
class Splits:
    """Train / validation / test pairs over disjoint prompts."""

    train: tuple[Pair, ...]
    val: tuple[Pair, ...]
    test: tuple[Pair, ...]

    def __getitem__(self, name: str) -> tuple[Pair, ...]:
        if name not in ("train", "val", "test"):
            raise KeyError(f"unknown split {name!r}; use 'train', 'val' or 'test'")
        return getattr(self, name)


def solve(prompt: str) -> str:
    """The correct answer to ``prompt`` (the checkable truth).

    Raises:
        ValueError: the prompt belongs to no known family.
    """
    body = prompt.removesuffix("=")
    if body.startswith("r:"):
        return body[2:][::-1]
    left, plus, right = body.partition("+")
    if plus and left.isdigit() and right.isdigit():
        return str(int(left) + int(right))
    raise ValueError(f"cannot solve prompt {prompt!r}: expected 'a+b=' or 'r:word='")


def revision_prompt(prompt: str, answer: str) -> str:
    """The self-revision prompt: the original prompt, a previous answer, then ``|``.

    The model continues it with a (hopefully better) answer; SRPO trains this.
    """
    return f"{prompt}{answer}|"


def corrupt(prompt: str, answer: str, kind: str, rng: random.Random) -> str | None:
    """A wrong answer of the given ``kind``, or None where that kind does not apply."""
    if kind == "reversed":
        wrong = answer[::-1]
    elif kind == "truncated":
        wrong = answer[:-1]
    elif kind == "off_by_one" and answer.isdigit():
        value = int(answer) + rng.choice((-1, 1))
        wrong = str(value if value >= 0 else int(answer) + 1)
    elif kind == "off_by_one":
        i = rng.randrange(len(answer))
        shifted = chr((ord(answer[i]) - ord("a") + rng.choice((-1, 1))) % 26 + ord("a"))
        wrong = answer[:i] + shifted + answer[i + 1 :]
    else:
        raise ValueError(f"unknown corruption {kind!r}; use one of {CORRUPTIONS}")
    return wrong if wrong and wrong != answer else None


def _prompts(families: Iterable[str], max_operand: int, letters: str) -> list[str]:
    prompts: list[str] = []
    for family in families:
        if family == "add":
            prompts += [f"{a}+{b}=" for a in range(max_operand) for b in range(10)]
        elif family == "rev":
            for n in (2, 3, 4):
                prompts += ["r:" + "".join(w) + "=" for w in itertools.product(letters, repeat=n)]
        else:
            raise ValueError(f"unknown family {family!r}; use 'add' or 'rev'")
    return prompts


def make_splits(
    families: Sequence[str] = ("add",),
    *,
    max_operand: int = 100,
    letters: str = "abcde",
    fractions: tuple[float, float] = (0.1, 0.1),
    corruptions: Sequence[str] = CORRUPTIONS,
    seed: int = 0,
) -> Splits:
    """Generate pairs and split them by prompt.

    Args:
        families: which prompt families to use (``"add"``, ``"rev"``).
        max_operand: ``add`` operands range over ``0 .. max_operand-1``.
        letters: alphabet of the ``rev`` words.
        fractions: shares of prompts held out for validation and test.
        corruptions: which kinds of rejected answers to generate.
        seed: fixes the shuffle and the corruptions (not the model's seed).

    Example:
        >>> s = make_splits(("add",), max_operand=5, seed=0)
        >>> all(solve(p.prompt) == p.chosen != p.rejected for p in s.train)
        True
    """
    rng = random.Random(seed)
    prompts = _prompts(families, max_operand, letters)
    rng.shuffle(prompts)
    n_val, n_test = (max(1, round(f * len(prompts))) for f in fractions)
    if n_val + n_test >= len(prompts):
        raise ValueError(f"too few prompts ({len(prompts)}) for the held-out fractions {fractions}")
    groups = {"val": prompts[:n_val], "test": prompts[n_val : n_val + n_test], "train": prompts[n_val + n_test :]}
    out: dict[str, tuple[Pair, ...]] = {}
    for name, group in groups.items():
        pairs = []
        for prompt in group:
            answer = solve(prompt)
            for kind in corruptions:
                wrong = corrupt(prompt, answer, kind, rng)
                if wrong is not None:
                    pairs.append(Pair(prompt, answer, wrong, kind))
        out[name] = tuple(pairs)
    return Splits(**out)
