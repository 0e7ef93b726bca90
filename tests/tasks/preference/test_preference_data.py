"""Generated preference pairs, their checkable truth and the tokenizer."""

from __future__ import annotations

import random

import pytest

from tasks.preference.data import CORRUPTIONS, corrupt, make_splits, revision_prompt, solve
from tasks.preference.tokenizer import BOS, EOS, CharTokenizer


def test_solve_is_the_truth() -> None:
    assert solve("47+5=") == "52" and solve("r:abc=") == "cba"
    with pytest.raises(ValueError, match="expected"):
        solve("what?")


def test_pairs_are_correct_versus_wrong_in_a_controlled_way() -> None:
    splits = make_splits(("add", "rev"), max_operand=12, seed=3)
    kinds = set()
    for pair in splits.train + splits.val + splits.test:
        assert pair.chosen == solve(pair.prompt) != pair.rejected
        kinds.add(pair.corruption)
        if pair.corruption == "reversed":
            assert pair.rejected == pair.chosen[::-1]
        elif pair.corruption == "truncated":
            assert pair.rejected == pair.chosen[:-1]
        elif pair.chosen.isdigit():
            assert abs(int(pair.rejected) - int(pair.chosen)) == 1
        else:
            assert sum(a != b for a, b in zip(pair.chosen, pair.rejected)) == 1
    assert kinds == set(CORRUPTIONS)
    assert corrupt("3+4=", "7", "truncated", random.Random(0)) is None  # nothing left to truncate


def test_splits_are_disjoint_and_fixed_by_the_seed() -> None:
    a, b, c = make_splits(seed=0), make_splits(seed=0), make_splits(seed=1)
    assert a == b and a.val != c.val
    prompts = {name: {p.prompt for p in a[name]} for name in ("train", "val", "test")}
    assert not prompts["train"] & prompts["val"] and not prompts["train"] & prompts["test"]
    assert not prompts["val"] & prompts["test"]
    assert len(prompts["val"]) == len(prompts["test"]) == 100  # 10% of 1000 prompts each


def test_tokenizer_round_trip_and_errors() -> None:
    tok = CharTokenizer()
    text = revision_prompt("r:abc=", "cbb")
    ids = tok.encode(text, bos=True, eos=True)
    assert ids[0] == BOS and ids[-1] == EOS and tok.decode(ids) == text
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("A")
