"""The base of LLM optimizers tested directly through a one-method subclass: what each
request carries (temperature, choices, max_tokens), the bounds of its settings, the
notes the next prompt gets after each kind of proposal, and the updates ``suggest``
makes of failed, repeated and good replies."""

from __future__ import annotations

import json

import pytest

from optimizers._reply import suggest
from optimizers.llm import LLMOptimizer
from trace_core import Feedback, Parameter
from trace_core.errors import ConfigError
from trace_core.llm import AuthError, ScriptedLLM
from trace_core.spaces import Choice, Int


class Pick(LLMOptimizer):
    def propose(self, propagated=None, k=1):
        return self.ask([{"role": "user", "content": "Pick k."}], k, {"step": 7})


def _k(value: int = 1) -> Parameter:
    return Parameter(value, name="k", space=Int(1, 9))


def _json(k=None, reasoning="more", no_change=False) -> str:
    return json.dumps({"reasoning": reasoning, "suggestion": {} if k is None else {"k": k}, "no_change": no_change})


# -- settings and what a request carries ---------------------------------------------------


def test_the_settings_are_checked_at_their_bounds():
    with pytest.raises(ConfigError) as e:
        Pick([_k()], ScriptedLLM([]), max_tokens=15)
    assert str(e.value) == "max_tokens must be at least 16, got 15"
    with pytest.raises(ConfigError) as e:
        Pick([_k()], ScriptedLLM([]), max_repairs=-1)
    assert str(e.value) == "max_repairs must be >= 0, got -1"
    opt = Pick([_k()], ScriptedLLM([]), max_tokens=16, max_repairs=0)
    assert opt.reply_tokens == 16 and opt.max_repairs == 0


def test_direction_and_objective_reach_the_goal():
    assert Pick([_k()], None, direction="minimize").direction == "minimize"
    assert Pick([_k()], None, direction="minimize").goal("Do it.") == "Do it. A lower score is better."
    assert Pick([_k()], None, objective=" Win. ").goal("Do it.") == "Win. A higher score is better."


def test_a_request_carries_the_temperature_max_tokens_and_one_choice():
    llm = ScriptedLLM([_json(4)])
    update = Pick([_k()], llm, temperature=0.25, max_tokens=64).propose()[0]
    request = llm.requests[0]
    assert (request.temperature, request.max_tokens, request.n) == (0.25, 64, 1)
    assert update.values == {"k": 4} and update.reasoning == "more"
    assert update.meta["optimizer"] == "Pick" and update.meta["step"] == 7
    assert update.meta["reply_form"] == "json" and update.meta["repairs"] == 0


@pytest.mark.parametrize(
    ("stalls", "temperature", "base", "n"),
    [(0, None, None, 1), (0, 0.5, 0.5, 1), (1, None, 0.9, 1), (1, 0.5, 0.7, 1), (2, None, 1.1, 3), (2, 0.5, 0.9, 3),
     (3, None, 1.3, 3), (9, 0.1, 1.3, 3)],
)
def test_exploration_rises_with_the_steps_that_changed_nothing(stalls, temperature, base, n):
    llm = ScriptedLLM([_json(2), _json(3), _json(4)])
    opt = Pick([_k()], llm, temperature=temperature)
    opt.stalls = stalls
    updates = opt.propose(k=1)
    request = llm.requests[0]
    assert request.n == n and len(updates) == 1
    assert request.temperature == (None if base is None else pytest.approx(base))


def test_a_fourth_choice_is_asked_only_when_k_is_larger():
    llm = ScriptedLLM([_json(i) for i in range(2, 6)])
    opt = Pick([_k()], llm)
    opt.stalls = 2
    assert len(opt.propose(k=4)) == 4 and llm.requests[0].n == 4


def test_k_below_one_and_a_missing_llm_are_refused():
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        Pick([_k()], ScriptedLLM([])).propose(k=0)
    with pytest.raises(ConfigError, match="Pick needs an LLM to propose"):
        Pick([_k()], None).propose()


# -- choosing among more choices than asked ------------------------------------------------------


def test_new_values_are_kept_before_repeated_ones_and_every_call_is_counted():
    llm = ScriptedLLM([_json(1), _json(5), _json(6)])
    opt = Pick([_k(1)], llm)
    opt.observed({"k": 5}, Feedback(score=0.1), None)  # 5 was tried already
    opt.stalls = 2
    (update,) = opt.propose(k=1)
    assert update.values == {"k": 6}
    assert len(update.llm_calls) >= 1
    every = sum(len(u.llm_calls) for u in suggest(opt, ScriptedLLM([_json(1), _json(5), _json(6)]),
                                                  [{"role": "user", "content": "x"}], k=3, form="json"))
    assert len(update.llm_calls) == every


def test_the_kept_update_carries_the_calls_of_the_dropped_ones():
    llm = ScriptedLLM(lambda messages: _json(3))
    opt = Pick([_k(1)], llm, max_repairs=0)
    opt.stalls = 2
    (update,) = opt.propose(k=1)
    assert update.values == {"k": 3}
    assert len(update.llm_calls) == len(llm.requests) == 1


# -- failures and the notes for the next prompt -----------------------------------------------------


def test_an_llm_error_becomes_a_no_change_update_of_kind_llm():
    (update,) = Pick([_k()], ScriptedLLM([AuthError("bad key")]), max_repairs=0).propose()
    assert update.no_change and update.failure is not None and update.failure.kind == "llm"
    assert "bad key" in update.failure.error and "bad key" in update.meta["error"]


def test_an_unusable_reply_becomes_a_no_change_update_of_kind_reply_and_a_note():
    opt = Pick([_k()], ScriptedLLM(["no idea"]), max_repairs=0)
    (update,) = opt.propose()
    assert update.no_change and update.failure.kind == "reply"
    assert update.reasoning.startswith("no change: the reply could not be used after 0 repair(s): ")
    assert "no '{' found" in update.meta["error"]  # asked for JSON: told in JSON's words, not the markers'
    error = " ".join(str(update.meta["error"]).split())
    assert opt.notes() == f"Your last reply could not be used ({error[:300]}), so nothing was tried."
    assert opt.stalls == 1


def test_a_reply_that_repeats_the_current_values_is_told_so():
    opt = Pick([_k(2)], ScriptedLLM([_json(2, reasoning="keep")]), challenge=False)
    (update,) = opt.propose()
    assert update.no_change and update.meta["same_as_current"] == {"k": 2}
    assert update.reasoning == "keep\n(no change: the suggestion k=2 equals the current values)"
    assert opt.notes() == ("Your last suggestion k=2 equals the current values, so it was not tried. "
                           "Suggest values that differ from the current ones.")


def test_a_chosen_no_change_is_noted_with_its_reasoning():
    opt = Pick([_k()], ScriptedLLM([_json(reasoning="all  good\nhere", no_change=True)]), challenge=False)
    (update,) = opt.propose()
    assert update.no_change and update.failure is None
    assert opt.notes().startswith('Your last reply chose no change ("all good here"), so nothing was tried.')


def test_the_stuck_note_comes_after_two_steps_that_changed_nothing_and_a_change_resets_it():
    opt = Pick([_k(2)], ScriptedLLM([_json(2), _json(2), _json(5), _json(6), _json(7)]), challenge=False)
    opt.propose()
    assert opt.stalls == 1 and "changed nothing" not in opt.notes()
    opt.propose()
    assert opt.stalls == 2
    assert opt.notes().endswith("Your last 2 replies changed nothing. Try a clearly different direction from the ones "
                                "above: change a variable you have not changed yet, or change one by a much larger step.")
    assert opt.propose()[0].values == {"k": 5} and opt.stalls == 0 and opt.notes() == ""


def test_a_tried_update_is_noted_with_its_values_and_feedback():
    opt = Pick([_k()], None)
    update = opt.update({"k": 4})
    opt.observed({"k": 4}, Feedback(score=0.5, text="half right"), update)
    assert opt.notes() == "Your last suggestion k=4 was tried: score=0.5; half right."
    opt.observed({"k": 5}, Feedback(score=0.1), None)
    assert opt.notes() == "Your last suggestion k=4 was tried: score=0.5; half right."


def test_long_and_non_ascii_values_are_shown_cut_and_as_written():
    accented, long = ["é", "ü"], ["x" * 200]
    data = Parameter(accented, name="d", space=Choice([accented, long]))
    opt = Pick([data], ScriptedLLM([json.dumps({"reasoning": "r", "suggestion": {"d": accented}})]), challenge=False)
    opt.propose()
    assert 'd=["é", "ü"] equals' in opt.notes()
    data = Parameter(long, name="d", space=Choice([accented, long]))
    opt = Pick([data], ScriptedLLM([json.dumps({"reasoning": "r", "suggestion": {"d": long}})]), challenge=False)
    opt.propose()
    shown = json.dumps(long)[:120] + "…"
    assert f"d={shown} equals" in opt.notes()


def test_the_reply_state_round_trips_and_defaults_to_a_fresh_start():
    opt = Pick([_k(2)], ScriptedLLM([_json(2)]), challenge=False)
    opt.propose()
    state = opt.reply_state()
    assert state["stalls"] == 1 and len(state["notes"]) == 1
    fresh = Pick([_k(2)], None)
    fresh.load_reply_state(state)
    assert fresh.reply_state() == state and fresh.notes() == opt.notes()
    fresh.load_reply_state({})
    assert fresh.reply_state() == {"stalls": 0, "notes": []}


def test_a_refused_schema_is_not_sent_again():
    from trace_core.llm import FatalLLMError  # noqa: F401 - the refusal is a provider error

    llm = ScriptedLLM([_json(3)], sends_schema=True)
    opt = Pick([_k()], llm)
    assert opt.sends_reply_schema and llm.requests == []
    opt.propose()
    assert llm.requests[0].response_format is opt.reply_format


def test_a_decline_is_challenged_once_in_the_same_conversation():
    llm = ScriptedLLM([_json(2, reasoning="keep"), _json(6, reasoning="bolder")])
    opt = Pick([_k(2)], llm)
    (update,) = opt.propose()
    assert update.values == {"k": 6} and update.meta["challenged"] is True and update.reasoning == "bolder"
    assert len(llm.calls) == 2 and len(update.llm_calls) == 2
    follow_up = llm.calls[1]
    assert follow_up[-2] == {"role": "assistant", "content": _json(2, reasoning="keep")}
    assert follow_up[-1]["content"].startswith("You chose to change nothing.")
    assert opt.stalls == 0


def test_a_second_decline_stands():
    llm = ScriptedLLM([_json(2), _json(reasoning="sure", no_change=True)])
    (update,) = Pick([_k(2)], llm).propose()
    assert update.no_change and update.meta["same_as_current"] == {"k": 2} and update.meta["challenged"] is True
    assert len(llm.calls) == 2 and len(update.llm_calls) == 2


def test_the_challenge_repeats_the_reply_format_sends_the_schema_and_counts_both_repairs():
    replies = ["not json", _json(2, reasoning="keep"), "still not json", _json(6, reasoning="bolder")]
    llm = ScriptedLLM(replies, sends_schema=True)
    opt = Pick([_k(2)], llm)
    (update,) = opt.propose()
    assert update.values == {"k": 6} and update.checked is True
    assert update.meta["challenged"] is True and update.meta["repairs"] == 2  # one before, one after the challenge
    assert len(llm.requests) == 4 and all(r.response_format is opt.reply_format for r in llm.requests)
    nudge = llm.requests[2].messages[-1]["content"]
    assert nudge.startswith("You chose to change nothing.") and nudge.endswith(opt.reply_instructions().strip())


def test_suggest_asks_for_the_marked_form_unless_told():
    opt = Pick([_k(2)], None)
    messages = [{"role": "user", "content": "Pick k."}]
    (update,) = suggest(opt, ScriptedLLM(["[[ ## reasoning ## ]]\nup\n[[ ## k ## ]]\n5"]), messages)
    assert update.values == {"k": 5} and update.checked is True and update.meta["reply_form"] == "marked"


BAD = "I would pick a bigger k. " * 20  # no JSON: repaired


def _repair_echo(**ask) -> list[str]:
    """What the repair request echoes of the bad reply, for ``ask`` options."""
    llm = ScriptedLLM([BAD, _json(4)])
    opt = Pick([_k()], llm)
    (update,) = opt.ask([{"role": "user", "content": "Pick k."}], 1, {}, **ask)
    assert update.values == {"k": 4} and update.meta["repairs"] == 1
    return [m["content"] for m in llm.requests[1].messages if m["role"] == "assistant"]


def test_repairs_stay_within_the_token_budget_counted_with_the_given_counter():
    assert _repair_echo() == [BAD]
    assert _repair_echo(token_budget=100_000) == [BAD]
    assert _repair_echo(token_budget=100_000, count_tokens=lambda text: 10**6) == []  # never fits: left out
    echoed = _repair_echo(token_budget=40)
    assert echoed == [] or len(echoed[0]) < len(BAD)


def test_k_choices_keep_the_order_of_the_replies():
    llm = ScriptedLLM([_json(2), _json(5)])
    updates = Pick([_k(2)], llm).propose(k=2)
    assert [u.values for u in updates] == [{}, {"k": 5}] and llm.requests[0].n == 2


def test_a_missing_llm_says_how_to_give_one():
    with pytest.raises(ConfigError) as e:
        Pick([_k()], None).propose()
    assert str(e.value) == ("Pick needs an LLM to propose; pass llm= (for example "
                            "trace_core.llm.LiteLLM('openai/gpt-4o-mini')) or use Search without one")


def test_the_feedback_of_a_tried_update_is_cut_to_300_characters():
    opt = Pick([_k()], None)
    opt.observed({"k": 4}, Feedback(score=0.5, text="w" * 1000), opt.update({"k": 4}))
    note = opt.notes()
    assert note.startswith("Your last suggestion k=4 was tried: score=0.5; ww") and "chars cut" in note
    assert len(note) < 400
