"""The tiny LM: size, padding invariance, generation and self-revision."""

from __future__ import annotations

import pytest
import torch

import tasks.preference.generate as generate
from tasks.preference.batching import encode_pairs
from tasks.preference.data import Pair
from tasks.preference.model import ModelConfig, TinyLM, sequence_logps
from tasks.preference.tokenizer import PAD, CharTokenizer

TOK = CharTokenizer()


def _model(seed: int = 0) -> TinyLM:
    return TinyLM(ModelConfig(vocab_size=TOK.vocab_size, d_model=32, n_layer=2, n_head=2, d_ff=64), seed=seed).eval()


def test_default_model_is_under_a_million_parameters() -> None:
    assert 10_000 < TinyLM(ModelConfig(vocab_size=TOK.vocab_size)).num_parameters() <= 1_000_000


def test_the_seed_alone_fixes_the_weights() -> None:
    torch.manual_seed(1)
    a = _model(3)
    torch.manual_seed(2)  # another global RNG state: same weights all the same
    b, c = _model(3), _model(4)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.tok.weight, c.tok.weight)
    assert a.tok.weight.std().item() == pytest.approx(0.02, rel=0.2)


def test_right_padding_does_not_change_log_probs() -> None:
    model = _model()
    short, long = Pair("1+2=", "3", "4", "off_by_one"), Pair("47+5=", "52", "25", "reversed")
    alone = encode_pairs([short], TOK, ("w|x", "l|x"))
    batch = encode_pairs([short, long], TOK, ("w|x", "l|x", "w|l,x"))  # wider: the short rows get more pads
    assert batch.ids.shape[-1] > alone.ids.shape[-1]
    with torch.no_grad():
        a, n_a = sequence_logps(model, alone.ids[0], alone.loss_mask[0])
        b, n_b = sequence_logps(model, batch.ids[0, :2], batch.loss_mask[0, :2])
    assert torch.allclose(a, b, atol=1e-5) and torch.equal(n_a, n_b)
    assert n_a.tolist() == [2.0, 2.0]  # answer token + <eos>


def test_left_padding_with_mask_gives_the_same_logits() -> None:
    model = _model()
    ids = torch.tensor([TOK.encode("12+7=", bos=True)])
    padded = torch.cat([torch.full((1, 3), PAD), ids], 1)
    mask = torch.cat([torch.zeros(1, 3, dtype=torch.long), torch.ones_like(ids)], 1)
    with torch.no_grad():
        plain, left = model(ids), model(padded, mask)[:, 3:]
    assert torch.allclose(plain, left, atol=1e-5)
    assert torch.isfinite(model(padded, mask)).all()  # pad rows attend to themselves, no NaN


def test_batched_greedy_generation_equals_one_by_one() -> None:
    model = _model(1)
    prompts = ["1+2=", "47+5=", "r:abc="]
    together = generate.greedy_generate(model, TOK, prompts, max_new_tokens=4)
    alone = [generate.greedy_generate(model, TOK, [p], max_new_tokens=4)[0] for p in prompts]
    assert together == alone and len(together) == 3


def test_self_revision_conditions_on_the_previous_answer(monkeypatch) -> None:
    seen: list[list[str]] = []

    def fake_generate(model, tokenizer, prompts, **kwargs):
        seen.append(list(prompts))
        return [f"{len(seen)}" for _ in prompts]

    monkeypatch.setattr(generate, "greedy_generate", fake_generate)
    rounds = generate.self_revise(None, TOK, ["1+2=", "3+4="], revisions=2)
    assert rounds == [["1", "1"], ["2", "2"], ["3", "3"]]
    assert seen == [["1+2=", "3+4="], ["1+2=1|", "3+4=1|"], ["1+2=2|", "3+4=2|"]]
