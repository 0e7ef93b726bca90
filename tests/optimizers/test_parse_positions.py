"""What the model is told when its JSON is broken, and what lenient parsing leaves alone,
seen through OptoPrime.propose with a ScriptedLLM: the repair message names the position
of the error, and the trailing-comma and Python-literal fixes never edit text inside
string values."""

from __future__ import annotations

import json

import pytest

from optimizers.optoprime import OptoPrime
from trace_core import Parameter, backward, node
from trace_core.llm import ScriptedLLM
from trace_core.spaces import Float, Text


def _reply(**values) -> str:
    return json.dumps({"reasoning": "r", "suggestion": values, "no_change": False})


def _propose_x(first: str):
    """Propose for one Float parameter x; the model answers ``first``, then a valid reply."""
    x = Parameter(1.0, name="x", space=Float(0, 10))
    llm = ScriptedLLM([first, _reply(x=2.0)])
    update = OptoPrime([x], llm).propose(backward(x * node(2.0), "y should be 4"))[0]
    return update, llm


def _propose_text(first: str):
    """Propose for one Text parameter p; the model answers ``first`` (then a fallback reply)."""
    p = Parameter("old", name="p", space=Text())
    llm = ScriptedLLM([first, _reply(p="fallback")])
    update = OptoPrime([p], llm).propose(backward(p + node("!"), "make it better"))[0]
    return update, llm


MISSING_COMMA = '{"reasoning": "r",\n "suggestion": {"x": 2.0}\n "no_change": false}'


@pytest.mark.parametrize(
    ("reply", "position"),
    [
        (MISSING_COMMA, "line 3 column 2"),
        ('{"reasoning": "r", "suggestion": {"x": 2.0} "no_change": false}', "line 1 column 45"),
        ('{"reasoning": "r",\n "suggestion": {"x": 2.0,, "y": 1},\n "no_change": false}', "line 2 column 26"),
    ],
)
def test_the_repair_message_names_the_line_and_column_of_the_syntax_error(reply, position):
    update, llm = _propose_x(reply)
    assert update.values == {"x": 2.0} and update.meta["repairs"] == 1
    repair = llm.calls[1][-1]["content"]
    assert "not valid JSON" in repair
    assert position in repair


@pytest.mark.parametrize(
    ("reply", "position"),
    [
        ("Here it is.\n\n" + MISSING_COMMA, "line 5 column 2"),
        ('Sure: {"reasoning": "r", "suggestion": {"x": 2.0} "no_change": false}', "line 1 column 51"),
    ],
)
def test_the_position_is_counted_in_the_reply_as_sent_when_prose_comes_first(reply, position):
    update, llm = _propose_x(reply)
    assert update.meta["repairs"] == 1
    assert position in llm.calls[1][-1]["content"]


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        # a trailing comma to fix outside strings, the same characters kept inside them
        ('{"reasoning": "keep [a, ] as is", "suggestion": {"p": "use {x,} and [1, ]"}, "no_change": false,}',
         "use {x,} and [1, ]"),
        # escaped quotes do not end a string early
        ('Sure: {"reasoning": "r", "suggestion": {"p": "say \\"hi,}\\" [1, ]"}, "no_change": false,} ok',
         'say "hi,}" [1, ]'),
        # Python-style literals outside strings are read; JSON words inside strings are kept
        ("{'reasoning': 'r', 'suggestion': {'p': 'true or null,} it is'}, 'no_change': false,}",
         "true or null,} it is"),
        ("{'reasoning': 'r', 'suggestion': {'p': \"it's [1, ] false\"}, 'no_change': False}", "it's [1, ] false"),
    ],
)
def test_lenient_fixes_never_edit_text_inside_string_values(reply, value):
    update, llm = _propose_text(reply)
    assert update.meta["repairs"] == 0 and len(llm.calls) == 1
    assert update.values == {"p": value}


def test_a_reply_cut_off_inside_a_string_is_reported_as_cut_off():
    update, llm = _propose_x('{"reasoning": "the value {should, grow", "suggestion": {"x": 2')
    assert update.meta["repairs"] == 1
    repair = llm.calls[1][-1]["content"]
    assert "cut off" in repair and '"suggestion\\": {\\"x\\": 2"' in repair
