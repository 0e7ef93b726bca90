"""OptoPrime and OPRO on a multi-objective task: the prompt shows the front and asks to
dominate or extend it; single-objective prompts stay as they were, byte for byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from optimizers._front_prompt import FrontMemory
from optimizers.opro import OPRO
from optimizers.optoprime import OptoPrime
from trace_core import Feedback, Objectives, Parameter, backward, bundle
from trace_core.errors import ConfigError
from trace_core.llm import ScriptedLLM
from trace_core.spaces import Int, Text

SNAPSHOTS = Path(__file__).parent / "snapshots"
OBJECTIVES = {"val_acc": "maximize", "n_params": "minimize"}
#: (width, prompt suffix, val_acc, n_params): three on the front, one dominated, one failed
TRIED = [(16, "", 0.90, 1200.0), (64, " Think step by step.", 0.95, 5400.0), (8, "", 0.80, 800.0),
         (32, "", 0.85, 3000.0), (4, "", None, None)]


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("TRACETUNE_UPDATE_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing {path}; create it with TRACETUNE_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), "prompt changed; review and rerun with TRACETUNE_UPDATE_SNAPSHOTS=1"


def params():
    width = Parameter(16, name="width", space=Int(1, 128), description="hidden units")
    prompt = Parameter("Answer the question.", name="prompt", space=Text(max_chars=200))
    return [width, prompt]


def feedback(acc, size):
    if acc is None:
        return Feedback.failure("training diverged")
    return Feedback(score=acc, metrics={"val_acc": acc, "n_params": size}, text=f"{size:g} parameters")


def observe_all(opt):
    for width, suffix, acc, size in TRIED:
        opt.observe({"width": width, "prompt": "Answer the question." + suffix}, feedback(acc, size))


@bundle
def train(width, prompt):
    """Trains a network of this width (offline stand-in)."""
    return {"val_acc": 0.9, "n_params": 100.0 * width}


def render(messages):
    return "\n\n".join(f"===== {m['role']} =====\n{m['content']}" for m in messages)


def optoprime_prompt(**options):
    ps = params()
    opt = OptoPrime(ps, None, objective="Train a small accurate network.", memory=2, **options)
    observe_all(opt)
    out = train(*ps)
    return render(opt.messages(backward(out, Feedback(score=0.9, metrics={"val_acc": 0.9, "n_params": 1600.0})))[0])


def opro_prompt(**options):
    opt = OPRO(params(), None, objective="Train a small accurate network.", **options)
    observe_all(opt)
    return render(opt.messages())


def test_single_objective_opro_prompt_matches_the_snapshot():
    check_snapshot("opro_prompt.md", opro_prompt())


def test_optoprime_front_prompt_matches_the_snapshot():
    check_snapshot("optoprime_front_prompt.md", optoprime_prompt(objectives=OBJECTIVES))


def test_opro_front_prompt_matches_the_snapshot():
    check_snapshot("opro_front_prompt.md", opro_prompt(objectives=OBJECTIVES, constraints=["n_params <= 6000"]))


def _front_section(prompt: str) -> str:
    return prompt.split("# The front so far", 1)[1].split("\n\nNow write", 1)[0]


def test_the_front_lists_only_non_dominated_feasible_candidates_with_their_changes():
    prompt = opro_prompt(objectives=OBJECTIVES, constraints=["n_params <= 5000"])
    front = _front_section(prompt)
    assert "(2 non-dominated of 5 candidates tried" in front  # 0.95 / 5400 breaks the constraint
    assert "A. val_acc=0.9, n_params=1200; changes: none (the current values)" in front
    assert "B. val_acc=0.8, n_params=800; changes: width 16 → 8" in front
    assert "val_acc=0.95, n_params=5400 (infeasible: breaks a constraint)" in prompt
    assert "val_acc=0.85" not in front and "score:" not in prompt  # dominated; no single score on this task
    assert "constraints: n_params <= 5000" in prompt and "A higher score is better" not in prompt


def test_the_named_direction_turns_from_objective_to_objective():
    ps = params()
    opt = OPRO(ps, None, objectives=OBJECTIVES)
    observe_all(opt)  # five observations: the second objective's turn
    assert "extend the front: lower n_params than 800 (candidate C, the best on n_params) at about the same " \
           "val_acc=0.8." in opt.messages()[1]["content"]
    opt.observe({"width": 16, "prompt": "Be brief."}, feedback(0.7, 700.0))
    assert "extend the front: higher val_acc than 0.95 (candidate A, the best on val_acc) at about the same " \
           "n_params=5400." in opt.messages()[1]["content"]


def test_a_large_front_with_long_values_stays_bounded():
    width = Parameter(1, name="width", space=Int(1, 500))
    prompt = Parameter("Answer.", name="prompt", space=Text())
    opt = OptoPrime([width, prompt], None, objectives=OBJECTIVES, max_front=4)
    for i in range(1, 200):  # every one on the front: more accuracy for more parameters
        long_text = " ".join(f"word{j}" for j in range(i, i + 400))
        opt.observe({"width": i, "prompt": long_text}, feedback(i / 200, 10.0 * i))
    front = _front_section(opt.messages(None)[0][1]["content"])
    assert "(199 non-dominated of 199 candidates tried" in front
    assert [line[:2] for line in front.splitlines() if line[1:3] == ". "] == ["A.", "B.", "C.", "D."]
    assert "(and 195 more on the front, between those shown)" in front
    assert "val_acc=0.995, n_params=1990" in front and "val_acc=0.005, n_params=10;" in front  # both ends
    assert len(front) < 1500  # four members, each value cut


def test_long_text_changes_show_the_words_removed_and_added():
    memory = FrontMemory(Objectives.of(OBJECTIVES))
    old = "You are a careful assistant. Answer every question with one short sentence and cite the source."
    new = old.replace("one short sentence", "two sentences")
    memory.observe({"prompt": new}, feedback(0.9, 10.0))
    assert 'changes: prompt -"one short sentence" +"two sentences"' in memory.section({"prompt": old})


def test_the_front_survives_a_resume_and_single_objective_state_is_unchanged():
    first = OptoPrime(params(), None, objectives=OBJECTIVES)
    observe_all(first)
    state = first.state_dict()
    again = OptoPrime(params(), None, objectives=OBJECTIVES)
    again.load_state_dict(state)
    assert again.messages(None)[0] == first.messages(None)[0] and len(again.front) == 5
    plain = OPRO(params(), None)
    observe_all(plain)
    assert "front" not in plain.state_dict() and "front" not in OptoPrime(params(), None).state_dict()
    with pytest.raises(ConfigError, match="malformed front"):
        OPRO(params(), None, objectives=OBJECTIVES).load_state_dict({"history": [], "front": [{"values": 1}]})
    with pytest.raises(ConfigError, match="max_front"):
        OPRO(params(), None, objectives=OBJECTIVES, max_front=0)


def test_opro_proposes_on_a_multi_objective_task_with_a_scripted_llm():
    llm = ScriptedLLM(['{"reasoning": "C with fewer units", "suggestion": {"width": 6}, "no_change": false}'])
    opt = OPRO(params(), llm, objectives=OBJECTIVES)
    observe_all(opt)
    assert opt.propose()[0].values == {"width": 6}
    assert "# The front so far (3 non-dominated" in llm.calls[0][-1]["content"]


def test_dominated_counts_agree_with_dominates():
    import random

    from optimizers._front_prompt import dominated_counts
    from trace_core import dominates

    rng = random.Random(3)
    senses = ("maximize", "minimize", "maximize")
    points = [tuple(float(rng.randrange(4)) for _ in senses) for _ in range(60)]  # many ties and duplicates
    expected = [sum(dominates(q, p, senses) for q in points) for p in points]
    assert dominated_counts(points, senses) == expected and 0 in expected and max(expected) > 3
    many = [(float(i % 37), float(i % 11)) for i in range(1100)]  # more than one block of rows
    counts = dominated_counts(many, ("maximize", "maximize"))
    for i in (0, 36, 600, 1099):
        assert counts[i] == sum(dominates(q, many[i], ("maximize", "maximize")) for q in many)


def test_with_three_objectives_the_best_on_each_is_shown_and_named():
    senses = {"a": "maximize", "b": "maximize", "c": "maximize"}
    memory = FrontMemory(Objectives.of(senses), max_shown=3)
    for i in range(30):  # on a plane a + b + c = 30: all on the front
        a, b = i, (7 * i) % (30 - i) if i < 29 else 0
        memory.observe({"k": i}, Feedback(score=a, metrics={"a": a, "b": b, "c": 30 - a - b}))
    shown = memory.shown()
    for name in senses:
        best = max(e["objectives"][list(senses).index(name)] for e in memory.front())
        assert best in [e["objectives"][list(senses).index(name)] for e in shown], name
    assert len(shown) == 3 and "(and 27 more on the front" in memory.section({"k": 0})
