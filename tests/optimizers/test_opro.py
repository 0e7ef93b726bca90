"""OPRO: proposals from the scored history, best last."""

from __future__ import annotations

import json
import re

import pytest

from optimizers.opro import OPRO
from trace_core import Feedback, Parameter
from trace_core.errors import BudgetExceeded, ConfigError
from trace_core.llm import ScriptedLLM
from trace_core.spaces import Float, Text


def reply(**values):
    return json.dumps({"reasoning": "the best so far, nudged", "suggestion": values, "no_change": False})


def history_of(prompt: str) -> list[tuple[float, float | None]]:
    """(x, score) pairs as the prompt lists them."""
    pairs = re.findall(r"values: x=([-\d.e]+)\nscore: (\S+)", prompt)
    return [(float(x), None if s == "failed" else float(s)) for x, s in pairs]


def test_toy_problem_climbs_to_the_optimum():
    x = Parameter(0.0, name="x", space=Float(-5, 5))

    def llm_step(messages):  # reads the best (last) entry and steps toward higher scores
        best_x, _ = history_of(messages[-1]["content"])[-1]
        return reply(x=best_x + 0.5)

    opt = OPRO([x], ScriptedLLM(llm_step), objective="Maximize -(x - 2)^2.")
    score = lambda v: -((v - 2.0) ** 2)  # noqa: E731
    opt.observe({"x": x.value}, Feedback(score=score(x.value)))
    for _ in range(4):
        update = opt.propose()[0]
        fb = Feedback(score=score(update.values["x"]))
        opt.observe(update.values, fb)
        if fb.score > score(x.value):
            opt.apply(update)
    assert x.value == 2.0 and len(opt.history) == 5


def test_history_is_ranked_best_last_and_cut_to_max_history():
    x = Parameter(0.0, name="x", space=Float(-5, 5))
    opt = OPRO([x], ScriptedLLM([]), max_history=3, direction="minimize")
    for v, s in [(1.0, 5.0), (2.0, 1.0), (3.0, None), (4.0, 3.0), (5.0, 2.0)]:
        opt.observe({"x": v}, Feedback(score=s) if s is not None else Feedback.failure("crashed"))
    prompt = opt.messages()[1]["content"]
    assert history_of(prompt) == [(4.0, 3.0), (5.0, 2.0), (2.0, 1.0)]
    assert "lower scores are better" in prompt and "x (a number between -5 and 5) = 0.0" in prompt
    opt.max_history = 10
    assert history_of(opt.messages()[1]["content"])[0] == (3.0, None)  # failures rank worst


def test_the_same_values_again_replace_their_entry():
    x = Parameter(0.0, name="x", space=Float(-5, 5))
    opt = OPRO([x], ScriptedLLM([]))
    opt.observe({"x": 1.0}, Feedback(score=1.0))
    opt.observe({"x": 1.0}, Feedback(score=0.5, text="noisy"))
    assert opt.history == [{"values": {"x": 1.0}, "score": 0.5, "feedback": "noisy"}]


def test_replies_are_repaired_like_optoprime():
    x = Parameter(0.0, name="x", space=Float(-5, 5))
    text = Parameter("hi", name="text", space=Text(max_chars=5))
    llm = ScriptedLLM([reply(x=9.0), reply(text="far too long"), reply(x=1.0, text="ok")])
    update = OPRO([x, text], llm, max_repairs=2).propose()[0]
    assert update.values == {"x": 1.0, "text": "ok"} and update.meta["repairs"] == 2
    assert "out of range" in llm.calls[1][-1]["content"] and "at most 5" in llm.calls[2][-1]["content"]
    failed = OPRO([x], ScriptedLLM([reply(x=9.0)] * 2), max_repairs=1).propose()[0]
    assert failed.no_change and "out of range" in failed.meta["error"]
    with pytest.raises(BudgetExceeded):
        OPRO([x], ScriptedLLM([BudgetExceeded("spent")])).propose()


def test_k_proposals_and_no_trace_needed():
    x = Parameter(0.0, name="x", space=Float(-5, 5))
    llm = ScriptedLLM([reply(x=1.0), reply(x=2.0)])
    opt = OPRO([x], llm)
    assert not opt.needs_trace
    assert [u.values["x"] for u in opt.propose(None, k=2)] == [1.0, 2.0] and llm.requests[0].n == 2


def test_state_dict_round_trip():
    x = Parameter(0.0, name="x", space=Float(-5, 5))
    opt = OPRO([x], ScriptedLLM([]))
    opt.observe({"x": 1.0}, Feedback(score=0.25, text="meh"))
    opt.observe({"x": 2.0}, Feedback.failure("nan loss"))
    state = json.loads(json.dumps(opt.state_dict()))
    fresh = OPRO([x], ScriptedLLM([]))
    fresh.load_state_dict(state)
    assert fresh.history == opt.history and fresh.messages() == opt.messages()
    with pytest.raises(ConfigError, match="malformed history"):
        fresh.load_state_dict({"history": [{"score": 1.0}]})


def test_a_nan_score_counts_as_failed_and_all_failed_history_still_proposes():
    x = Parameter(0.0, name="x", space=Float(-5, 5))
    opt = OPRO([x], ScriptedLLM([reply(x=1.0)]))
    opt.observe({"x": 3.0}, Feedback(score=float("nan")))
    opt.observe({"x": 2.0}, Feedback.failure("crashed"))
    assert [e["score"] for e in opt.history] == [None, None]
    json.dumps(opt.state_dict(), allow_nan=False)  # strict JSON: a store may refuse NaN
    assert history_of(opt.messages()[1]["content"]) == [(3.0, None), (2.0, None)]
    assert opt.propose()[0].values == {"x": 1.0}


def test_a_repeat_of_the_current_values_is_told_back_in_the_next_prompt():
    x = Parameter(0.0, name="x", space=Float(-5, 5))
    llm = ScriptedLLM(["[[ ## reasoning ## ]]\nstay\n[[ ## x ## ]]\n0", "[[ ## reasoning ## ]]\nup\n[[ ## x ## ]]\n2"])
    opt = OPRO([x], llm, temperature=0.0, challenge=False)
    opt.observe({"x": 0.0}, Feedback(score=-4.0))
    [update] = opt.propose()
    assert update.no_change and update.meta["same_as_current"] == {"x": 0.0}
    [update] = opt.propose()
    assert "Your last suggestion x=0.0 equals the current values" in llm.calls[1][-1]["content"]
    assert llm.calls[1] != llm.calls[0] and llm.requests[1].temperature > 0.0 and update.values == {"x": 2.0}
    assert opt.state_dict()["stalls"] == 0
