"""Word-level operators on text: mutation (replace, insert, delete, swap) and crossover.

Text is split into words with the whitespace that follows each, so line breaks and
indentation around untouched words survive an operator.

Example:
    >>> import random
    >>> mutate("a b c", ["x"], random.Random(0))[0].count(" ") >= 1
    True
    >>> crossover("a b c d", "w x y z", random.Random(1))
    ('a b y z', 'crossover at word 2 of 4 / 2 of 4')
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence

__all__ = ["words", "mutate", "crossover", "word_pool"]

_TOKEN = re.compile(r"(\S+)(\s*)")


def _split(text: str) -> tuple[str, list[list[str]]]:
    lead = text[: len(text) - len(text.lstrip())]
    return lead, [[m.group(1), m.group(2)] for m in _TOKEN.finditer(text)]


def _join(lead: str, tokens: list[list[str]]) -> str:
    for token in tokens[:-1]:
        if not token[1]:
            token[1] = " "
    return lead + "".join(w + s for w, s in tokens)


def words(text: str) -> list[str]:
    """The words of ``text`` (split on whitespace)."""
    return text.split()


def word_pool(texts: Iterable[str], vocabulary: Iterable[str] = ()) -> list[str]:
    """The vocabulary then every word seen in ``texts``, each once, in first-seen order."""
    pool = dict.fromkeys(w for w in vocabulary if w and not any(c.isspace() for c in w))
    for text in texts:
        pool.update(dict.fromkeys(text.split()))
    return list(pool)


def mutate(text: str, pool: Sequence[str], rng: random.Random) -> tuple[str, str]:
    """One word operator on ``text`` with words from ``pool``; returns (text, what was done)."""
    lead, tokens = _split(text)
    ops = []
    if pool:
        ops += ["insert"] + (["replace"] if tokens else [])
    if len(tokens) > 1:
        ops += ["delete", "swap"]
    if not ops:
        return text, "unchanged (no words to use)"
    op = rng.choice(ops)
    if op == "replace":
        i = rng.randrange(len(tokens))
        others = [w for w in pool if w != tokens[i][0]]
        if others:
            word = rng.choice(others)
            what = f"replaced {tokens[i][0]!r} with {word!r}"
            tokens[i][0] = word
            return _join(lead, tokens), what
        op = "insert"  # every pool word is this word: replacing would change nothing
    if op == "insert":
        i, word = rng.randint(0, len(tokens)), rng.choice(pool)
        if i == len(tokens) and tokens:  # a new last word ends the text as the old last word did
            tokens.append([word, tokens[-1][1]])
            tokens[-2][1] = " "
        else:
            tokens.insert(i, [word, " " if tokens else ""])
        what = f"inserted {word!r}"
    elif op == "delete":
        i = rng.randrange(len(tokens))
        what = f"deleted {tokens[i][0]!r}"
        trailing = tokens.pop(i)[1]
        if i == len(tokens):
            tokens[-1][1] = trailing
    else:
        i, j = rng.sample(range(len(tokens)), 2)
        tokens[i][0], tokens[j][0] = tokens[j][0], tokens[i][0]
        what = f"swapped {tokens[j][0]!r} and {tokens[i][0]!r}"
    return _join(lead, tokens), what


def crossover(a: str, b: str, rng: random.Random) -> tuple[str, str]:
    """One-point crossover: the head of ``a`` and the tail of ``b``, cut at the same relative place."""
    lead, ta = _split(a)
    _, tb = _split(b)
    if not ta or not tb:
        return (a or b), "crossover skipped (an empty parent)"
    i = rng.randint(1, len(ta))
    j = min(len(tb), round(i / len(ta) * len(tb)))
    child = ta[:i] + tb[j:]
    if j == len(tb):  # nothing of b: end like a ends
        child[-1] = [child[-1][0], ta[-1][1]]
    return _join(lead, child), f"crossover at word {i} of {len(ta)} / {j} of {len(tb)}"
