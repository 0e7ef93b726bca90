"""OptoPrime end to end with ScriptedLLM: numeric, prompt and code-repair problems;
repairs, LLM errors, k > 1, memory and state."""

from __future__ import annotations

import json
import math
import re

import pytest

from optimizers.optoprime import OptoPrime
from trace_core import Feedback, Parameter, backward, bundle, node
from trace_core.errors import BudgetExceeded, ConfigError
from trace_core.llm import FatalLLMError, ScriptedLLM
from trace_core.spaces import Code, Float, Text


def reply(**values):
    return json.dumps({"reasoning": "because", "suggestion": values, "no_change": False})


def section(prompt: str, title: str) -> str:
    return prompt.split(f"# {title}\n", 1)[1].split("\n\n# ", 1)[0]


# -- a numeric problem ------------------------------------------------------------------------


def test_numeric_problem_reaches_the_target():
    x = Parameter(0.0, name="x", space=Float(-10, 10), description="the input")

    def llm_step(messages):  # an "LLM" that reads x and y from the prompt and steps toward y = 0
        prompt = messages[-1]["content"]
        current = float(re.search(r"^x \(.*\) = (.+)$", section(prompt, "Variables"), re.M).group(1))
        y = float(section(prompt, "Outputs").split(" = ")[1])
        return reply(x=current + min(1.0, math.sqrt(y)))

    opt = OptoPrime([x], ScriptedLLM(llm_step), objective="Make y zero.", direction="minimize")
    for _ in range(6):
        y = (x - node(3.0)) ** 2
        if y.value == 0:
            break
        fb = Feedback(score=y.value, text=f"y is {y.value}; it should be 0")
        update = opt.propose(backward(y, fb))[0]
        assert update.llm_calls and update.meta["repairs"] == 0
        opt.apply(update)
        opt.observe(update.values, fb)
    assert x.value == 3.0 and ((x - node(3.0)) ** 2).value == 0


# -- a prompt problem -------------------------------------------------------------------------


@bundle
def answer(instruction, question):
    """Answers an arithmetic question following the instruction (a stand-in for an LLM)."""
    a, b = (int(t) for t in re.findall(r"\d+", question))
    return str(a + b) if "step by step" in instruction.lower() else str(a + b + 1)


def test_prompt_problem_improves_accuracy():
    instruction = Parameter("Answer quickly.", name="instruction", space=Text(max_chars=100))
    questions = {"What is 2 + 3?": "5", "What is 10 + 4?": "14", "What is 7 + 7?": "14"}

    def run():
        pairs = []
        for q, truth in questions.items():
            out = answer(instruction, node(q, name="question"))
            ok = out.value == truth
            pairs.append((out, Feedback(score=float(ok), text="correct" if ok else f"wrong: expected {truth}")))
        return pairs

    llm = ScriptedLLM({"wrong: expected": reply(instruction="Think step by step, then answer.")})
    opt = OptoPrime([instruction], llm)
    pairs = run()
    assert sum(fb.score for _, fb in pairs) == 0
    opt.step(backward(pairs))
    prompt = llm.calls[0][-1]["content"]
    assert '"Answer quickly."' in section(prompt, "Variables")
    assert section(prompt, "Feedback").count("wrong: expected") == 3
    assert "[answer] Answers an arithmetic question" in prompt
    assert sum(fb.score for _, fb in run()) == 3


# -- a code-repair problem ---------------------------------------------------------------------


@bundle(trainable=True)
def is_palindrome(s):
    """True when s reads the same forwards and backwards, ignoring case."""
    return s == s[::-1]


FIXED = 'def is_palindrome(s):\n    """Case-insensitive."""\n    s = s.lower()\n    return s == s[::-1]\n'


def unit_test():
    cases = {"Abba": True, "abc": False, "Racecar": True}
    outs = [(is_palindrome(node(text, name="text")), want) for text, want in cases.items()]
    failures = [f"is_palindrome({o.parents[0].value!r}) returned {o.value}, expected {w}" for o, w in outs
                if o.value != w]
    return outs[0][0], failures


def test_code_repair_applies_the_scripted_fix():
    code = is_palindrome.parameter
    original = code.value
    try:
        out, failures = unit_test()
        assert failures
        llm = ScriptedLLM([reply(**{code.name: "def is_palindrome(s) return s"}), reply(**{code.name: FIXED})])
        opt = OptoPrime([code], llm)
        update = opt.step(backward(out, Feedback(score=0.0, text="\n".join(failures))))
        prompt = llm.calls[0][-1]["content"]
        assert "is_palindrome0 = is_palindrome(s=text)" in prompt and "(its code is the variable is_palindrome)" in prompt
        assert "def is_palindrome(s):\n    \"\"\"True when" in section(prompt, "Variables")
        assert update.meta["repairs"] == 1 and "does not parse" in llm.calls[1][-1]["content"]
        assert unit_test()[1] == []
    finally:
        code.set(original)


# -- replies that need repair ------------------------------------------------------------------

GOOD = reply(x=2.0)
CORRUPT = {
    "truncated": ('{"reasoning": "x should grow", "suggestion": {"x": 2', "cut off"),
    "wrong_keys": ('{"reasoning": "r", "changes": {"x": 2}}', 'no "suggestion" key'),
    "wrong_type": (reply(x="two"), "expected a number"),
    "out_of_range": (reply(x=50), "out of range"),
    "unknown_name": (reply(y=1), "unknown parameter 'y'"),
    "partly_invalid": (reply(x=2.0, f="def f(a) return a"), "does not parse"),
    "bad_code": (reply(f="def f(a):\nreturn a"), "does not parse"),
    "changed_signature": (reply(f="def f(a, b):\n    return a"), "keep the signature"),
    "not_json": ("I would increase x.", "none of the markers asked for ([[ ## x ## ]]"),
    "code_in_json": ('{"reasoning": "r", "suggestion": {"f": "def f(a):\n    """doc"""\n    return a"}}',
                     'contains """ inside a JSON string'),
    "json_error": ('{"reasoning": "r" "suggestion": {"x": 2}}', "line 1 column"),
}


def _problem(replies, **options):
    x = Parameter(1.0, name="x", space=Float(0, 10))
    f = Parameter("def f(a):\n    return a\n", name="f", space=Code(name="f", args=["a"]))
    llm = ScriptedLLM(replies)
    y = x * node(2.0)
    return x, f, llm, OptoPrime([x, f], llm, **options), backward(y, "y should be 4")


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_each_corruption_is_repaired(kind):
    bad, words = CORRUPT[kind]
    x, f, llm, opt, result = _problem([bad, GOOD])
    update = opt.propose(result)[0]
    assert update.values == {"x": 2.0} and update.meta["repairs"] == 1 and len(update.llm_calls) == 2
    assert words in llm.calls[1][-1]["content"] and llm.calls[1][-2]["content"] == bad
    assert x.value == 1.0  # proposing never assigns


@pytest.mark.parametrize("text", ["Here you go:\n```json\n" + GOOD + "\n```", "Answer: " + GOOD + " Done.",
                                  GOOD.replace('"', "'").replace("false", "False")])
def test_tolerated_wrappings_need_no_repair(text):
    update = _problem([text])[3].propose(_problem([text])[4])[0]
    assert update.values == {"x": 2.0} and update.meta["repairs"] == 0


def test_after_max_repairs_the_update_is_no_change_with_the_reason():
    x, f, llm, opt, result = _problem([reply(x=50)] * 3, max_repairs=2)
    update = opt.propose(result)[0]
    assert update.no_change and len(llm.calls) == 3 and len(update.llm_calls) == 3
    assert "out of range" in update.meta["error"] and "out of range" in update.reasoning
    opt.apply(update)
    assert x.value == 1.0


def test_llm_errors_give_no_change_and_budget_exceeded_propagates():
    update = _problem([FatalLLMError("the provider refused")])[3].propose(None)[0]
    assert update.no_change and "the provider refused" in update.meta["error"]
    x, f, llm, opt, result = _problem([BudgetExceeded("token budget spent", limit="max_tokens")])
    with pytest.raises(BudgetExceeded):
        opt.propose(result)


def test_no_change_reply_is_an_empty_update_with_reasoning():
    text = json.dumps({"reasoning": "already optimal", "suggestion": {}, "no_change": True})
    update = _problem([text])[3].propose(None)[0]
    assert update.no_change and update.reasoning == "already optimal"


# -- k > 1, memory, state ----------------------------------------------------------------------


def test_k_proposals_from_one_call_with_n():
    x, f, llm, opt, result = _problem([reply(x=2.0), reply(x=3.0), reply(x=4.0)])
    updates = opt.propose(result, k=3)
    assert [u.values for u in updates] == [{"x": 2.0}, {"x": 3.0}, {"x": 4.0}]
    assert len(llm.calls) == 1 and llm.requests[0].n == 3 and llm.requests[0].response_format is None  # code: marked
    assert llm.requests[0].max_tokens == opt.reply_tokens >= 512
    assert len({u.id for u in updates}) == 3


def test_k_proposals_survive_a_broken_choice():
    # One choice of an n=3 call does not fit the reply format: the good choices are kept and
    # only the broken one is repaired (one more call with n=1), none is asked for again.
    x, f, llm, opt, result = _problem([reply(x=2.0), "garbage", reply(x=3.0), reply(x=4.0), reply(x=5.0)])
    updates = opt.propose(result, k=3)
    assert [u.values for u in updates] == [{"x": 2.0}, {"x": 4.0}, {"x": 3.0}]
    assert [r.n for r in llm.requests] == [3, 1] and [u.meta["repairs"] for u in updates] == [0, 1, 0]


def test_k_proposals_keep_choices_the_spaces_reject():
    # A choice out of range fails the reply schema; it is repaired alone, the others are used as they came.
    x, f, llm, opt, result = _problem([reply(x=99.0), reply(x=2.0), reply(x=3.0), reply(x=4.0)])
    updates = opt.propose(result, k=3)
    assert [u.values for u in updates] == [{"x": 4.0}, {"x": 2.0}, {"x": 3.0}]
    assert "out of range" in llm.calls[1][-1]["content"]


def test_memory_shows_the_last_pairs_and_survives_state_dict():
    x, f, llm, opt, result = _problem([], memory=2)
    for v in (1.5, 2.5, 3.5):
        opt.observe({"x": v}, Feedback(score=v, text=f"score {v}"))
    prompt = opt.messages(result)[0][-1]["content"]
    memory = prompt.split("# Values tried so far and their feedback (oldest first)\n", 1)[1]
    assert "x=1.5" not in memory and memory.index("x=2.5") < memory.index("x=3.5")
    state = json.loads(json.dumps(opt.state_dict()))
    fresh = OptoPrime([x, f], llm, memory=2)
    assert "Values tried" not in fresh.messages(result)[0][-1]["content"]
    fresh.load_state_dict(state)
    assert fresh.messages(result) == opt.messages(result)


def test_without_memory_nothing_is_kept():
    x, f, llm, opt, result = _problem([], memory=0)
    opt.observe({"x": 2.0}, 1.0)
    assert opt.state_dict()["memory"] == []


def test_without_an_llm_propose_says_what_to_do():
    x = Parameter(1.0, name="x", space=Float(0, 10))
    with pytest.raises(ConfigError, match="needs an LLM"):
        OptoPrime([x], None).propose(None)
    with pytest.raises(ValueError, match="k must be at least 1"):
        OptoPrime([x], ScriptedLLM([])).propose(None, k=0)


# -- no stalls ----------------------------------------------------------------------------------


def marked(**values):
    blocks = "".join(f"[[ ## {k} ## ]]\n{v}\n" for k, v in values.items())
    return f"[[ ## reasoning ## ]]\nmove toward the center\n{blocks}"


def test_a_suggestion_equal_to_the_current_values_is_told_back_and_exploration_rises():
    x, f, llm, opt, result = _problem([marked(x=1.0)] * 2 + [marked(x=1.0), marked(x=1.0), marked(x=6.0)],
                                      temperature=0.0, challenge=False)
    opt.observe(opt.values(), Feedback(score=0.2))
    first = opt.messages(result)[0]
    [update] = opt.propose(result)
    assert update.no_change and update.meta["same_as_current"] == {"x": 1.0}
    second = opt.messages(result)[0]
    assert "Your last suggestion x=1.0 equals the current values, so it was not tried." in second[-1]["content"]
    assert second != first
    [update] = opt.propose(result)  # second stall: asked hotter
    assert update.no_change and llm.requests[1].temperature > llm.requests[0].temperature == 0.0
    third = opt.messages(result)[0]
    assert "Your last 2 replies changed nothing" in third[-1]["content"] and third != second
    [update] = opt.propose(result)  # third: three choices, the one with new values is taken
    assert llm.requests[2].n == 3 and update.values == {"x": 6.0}
    assert len(update.llm_calls) == 1 and update.tokens > 0  # the call that made all three choices is counted
    assert opt.stalls == 0


def test_a_tried_suggestion_and_its_feedback_reach_the_next_prompt():
    x, f, llm, opt, result = _problem([marked(x=3.0)], memory=0)
    [update] = opt.propose(result)
    before = opt.messages(result)[0]
    opt.observe({**opt.values(), **update.values}, Feedback(score=0.7, text="closer"), update=update)
    after = opt.messages(result)[0]
    assert "Your last suggestion x=3.0 was tried: score=0.7; closer." in after[-1]["content"] and after != before


def test_fewer_choices_than_asked_are_made_up_by_more_calls(openai_server):
    from trace_core.llm import LiteLLM

    openai_server.max_choices = 1
    openai_server.reply = lambda body: marked(x=2.0 + len(openai_server.requests))
    x = Parameter(1.0, name="x", space=Float(0, 10))
    opt = OptoPrime([x], LiteLLM("openai/local", api_base=openai_server.url, api_key="k", retry=False))
    updates = opt.propose(None, k=3)
    assert [u.values for u in updates] == [{"x": 3.0}, {"x": 4.0}, {"x": 5.0}]
    assert [r.get("n", 1) for r in openai_server.requests] == [3, 2, 1]
    assert all(r["max_tokens"] == opt.reply_tokens for r in openai_server.requests)
