"""Evolution: word operators improve a toy text fitness; LLM operators write children; resume."""

from __future__ import annotations

import json
import random

import pytest

from optimizers import Evolution
from optimizers import _words
from trace_core import Feedback, Parameter, prompts
from trace_core.llm import ScriptedLLM
from trace_core.spaces import Choice, Float, Int, Text

TARGET = "answer with one short exact number".split()
NOISE = "please the a kindly verbose explain reasoning long story poem".split()


def fitness(text: str) -> float:
    words = text.split()
    return len(set(words) & set(TARGET)) / len(TARGET) - 0.05 * max(0, len(words) - len(TARGET))


def initial_population(opt: Evolution, rng: random.Random, size: int = 8) -> float:
    best = float("-inf")
    for _ in range(size):
        text = " ".join(rng.sample(NOISE, 4) + rng.sample(TARGET, 1))
        opt.observe({"prompt": text}, Feedback(score=fitness(text)))
        best = max(best, fitness(text))
    return best


def test_word_operators_improve_word_overlap_with_a_hidden_target():
    vocabulary = sorted(TARGET + NOISE)
    for seed in range(2):
        opt = Evolution([Parameter("please explain", name="prompt", space=Text(max_chars=120))],
                        vocabulary=vocabulary, seed=seed, population=8)
        start = initial_population(opt, random.Random(seed))
        for _ in range(12):
            for u in opt.propose(k=8):
                opt.observe(u.values, Feedback(score=fitness(u.values["prompt"])), update=u)
        scores = [i["score"] for i in opt.population]
        assert scores == sorted(scores, reverse=True) and len(scores) == 8
        assert scores[0] >= start + 0.3, (start, opt.population[0])


def test_generations_keep_the_best_of_parents_and_children():
    opt = Evolution([Parameter("a b c", name="prompt", space=Text())], population=2, offspring=2,
                    direction="minimize", seed=0)

    def parents():
        return [i["values"]["prompt"] for i in opt.population]

    for text, score in [("a", 3.0), ("b", 1.0), ("c", 2.0)]:
        opt.observe({"prompt": text}, Feedback(score=score))
    assert parents() == ["b", "a"]  # c waits for its generation to complete
    opt.observe({"prompt": "d"}, Feedback.failure("crashed"))
    assert parents() == ["b", "c"] and opt.children == []


def test_numbers_step_inside_their_spaces_and_choices_resample():
    params = [Parameter("hello world", name="prompt", space=Text()),
              Parameter(0.01, name="lr", space=Float(1e-4, 1.0, log=True)),
              Parameter(3, name="n", space=Int(1, 5)),
              Parameter("a", name="c", space=Choice(["a", "b", "c"]))]
    opt = Evolution(params, seed=0, choice_rate=0.3)
    children = opt.propose(k=40)
    assert all(1e-4 <= u.values["lr"] <= 1.0 and 1 <= u.values["n"] <= 5 for u in children)
    assert len({u.values["lr"] for u in children}) > 30
    assert {u.values["c"] for u in children} == {"a", "b", "c"}
    assert sum(u.values["c"] == "a" for u in children) > 20  # mostly kept


def test_word_operators_keep_line_breaks_and_respect_max_chars():
    text, _ = _words.crossover("first line\nsecond line\n", "other words here", random.Random(0))
    assert "\n" in text
    opt = Evolution([Parameter("x " * 9 + "x", name="p", space=Text(max_chars=20))], vocabulary=["longword"],
                    seed=1)
    children = opt.propose(k=20)
    assert all(len(u.values.get("p", "")) <= 20 for u in children)
    assert sum(not u.no_change for u in children) >= 3


def test_state_dict_resumes_the_same_run():
    def make():
        return Evolution([Parameter("one two three", name="prompt", space=Text())], vocabulary=TARGET, seed=3)

    a, b = make(), make()
    for opt in (a, b):
        for u in opt.propose(k=4):
            opt.observe(u.values, Feedback(score=fitness(u.values["prompt"]), text="ok"), update=u)
    c = make()
    c.load_state_dict(json.loads(json.dumps(b.state_dict())))
    assert [u.values for u in a.propose(k=4)] == [u.values for u in c.propose(k=4)]


def _llm_reply(messages):
    user = messages[1]["content"]
    assert "needs a number" in user  # the parents' feedback reaches the LLM
    return json.dumps({"reasoning": "the feedback asks for a number",
                       "suggestion": {"prompt": "answer with one exact number"}})


def test_llm_operator_writes_children_from_parents_and_feedback():
    llm = ScriptedLLM(_llm_reply)
    opt = Evolution([Parameter("say something", name="prompt", space=Text(max_chars=80)),
                     Parameter(0.5, name="t", space=Float(0, 1))], llm=llm, seed=0)
    opt.observe(opt.values(), Feedback(score=0.1, text="the answer needs a number"))
    [child] = opt.propose(k=1)
    assert child.values["prompt"] == "answer with one exact number"
    assert 0 <= child.values["t"] <= 1
    assert child.reasoning.startswith("llm mutation") and "feedback asks" in child.reasoning
    assert len(child.llm_calls) == 1 and child.llm_calls[0].model == "scripted"
    assert child.meta["operator"] == "llm-mutation"


def test_unusable_llm_replies_are_repaired_then_fall_back_to_word_operators():
    llm = ScriptedLLM(["no json here", '{"suggestion": {"prompt": "' + "x" * 200 + '"}}',
                       '{"reasoning": "r", "suggestion": {"prompt": "short and exact", "nope": 1}}',
                         '{"reasoning": "r", "suggestion": {"prompt": "short and exact"}}'])
    opt = Evolution([Parameter("say something", name="prompt", space=Text(max_chars=80))], llm=llm, seed=0,
                    vocabulary=["exact"], max_repairs=1)
    first, second = opt.propose(k=2)
    assert first.meta["operator"].startswith("word") and "at most 80" in first.meta["llm_error"]
    assert len(first.llm_calls) == 2 and len(first.values["prompt"]) <= 80
    assert "unknown variables" in llm.calls[-1][-1]["content"]  # the repair message names the problem
    assert second.values["prompt"] == "short and exact" and second.meta["operator"] == "llm-mutation"


def test_an_llm_repeating_itself_costs_at_most_two_calls_per_child():
    reply = json.dumps({"reasoning": "r", "suggestion": {"prompt": "always the same"}})
    llm = ScriptedLLM(lambda messages: reply)
    opt = Evolution([Parameter("start here", name="prompt", space=Text())], llm=llm, seed=0, vocabulary=["new"])
    first, second = opt.propose(k=2)
    assert first.values["prompt"] == "always the same" and len(first.llm_calls) == 1
    assert second.values["prompt"] != "always the same" and second.meta["operator"].startswith("word")
    assert len(second.llm_calls) == 2 and len(llm.calls) == 3  # the duplicate calls are on the child's bill


def test_crossover_prompt_renders_parents_best_first():
    from optimizers._evolution_llm import _parents

    parents = [{"values": {"prompt": "be exact"}, "score": 0.9, "feedback": "good"},
               {"values": {"prompt": "be long"}, "score": 0.2, "feedback": ""}]
    text = prompts.render("evolution/crossover", objective="maximize the score", parameters="- prompt: text",
                          parents=_parents(parents, ["prompt"]), vocabulary="exact",
                          format=prompts.render("evolution/format", example='"prompt": "..."'))
    assert text.startswith("Goal: maximize the score\n")
    assert 'Parent 1 (score 0.9):\n  prompt: "be exact"\n  evaluation: good\n\nParent 2 (score 0.2):' in text
    assert text.rstrip().endswith('by name.')
    assert "${" not in text


@pytest.mark.parametrize("bad", [{"population": 0}, {"offspring": 0}])
def test_sizes_must_be_positive(bad):
    with pytest.raises(ValueError):
        Evolution([Parameter("x", name="p", space=Text())], **bad)


@pytest.mark.parametrize("vocabulary", [None, []])
def test_a_single_word_without_vocabulary_gives_new_children_never_the_parent(vocabulary):
    opt = Evolution([Parameter("hello", name="p", space=Text())], vocabulary=vocabulary, seed=0)
    children = [u.values["p"] for u in opt.propose(k=3)]
    assert "hello" not in children and len(set(children)) == 3


def test_nothing_to_change_is_a_no_change_update():
    opt = Evolution([Parameter("", name="p", space=Text())], seed=0)
    updates = opt.propose(k=2)
    assert all(u.no_change and "no change" in u.reasoning for u in updates)


def test_word_mutations_change_the_text_and_keep_its_ending():
    for seed in range(20):
        text, what = _words.mutate("one two\n", ["two", "three"], random.Random(seed))
        assert text != "one two\n" and text.endswith("\n"), (text, what)
    assert _words.mutate("same", ["same"], random.Random(0))[0] == "same same"
