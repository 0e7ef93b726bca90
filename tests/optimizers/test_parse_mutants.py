"""The reply parser's helpers tested directly: every error message word for word with the
raw text kept, the limits of the search (objects tried inside prose, the size of a
Python-literal fallback), the position of a syntax error, and which text the lenient
fixes may edit (never inside strings, never inside a broken object)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from optimizers._parse import code_of, parse_json, parse_marked, parse_reply, unfenced
from trace_core.llm import UnparseableReply


def _error(text) -> UnparseableReply:
    with pytest.raises(UnparseableReply) as e:
        parse_json(text)
    return e.value


# -- the messages sent back to the model ---------------------------------------------


@pytest.mark.parametrize("value", [None, 3, b"{}"])
def test_a_reply_that_is_not_text_is_named_by_its_type(value):
    e = _error(value)
    assert str(e) == f"the reply is not text but {type(value).__name__}"
    assert e.raw == repr(value)


@pytest.mark.parametrize("text", ["", "  \n\t "])
def test_an_empty_reply_is_told_to_answer_with_one_object(text):
    e = _error(text)
    assert str(e) == "the reply was empty; answer with one JSON object" and e.raw == text


def test_a_reply_without_a_brace_says_so():
    e = _error("I think x should be 3.")
    assert str(e) == "the reply holds no JSON object (no '{' found); answer with one JSON object"
    assert e.raw == "I think x should be 3."


@pytest.mark.parametrize("text", ['{"a": [1, 2', '{"a": [1, 2}', 'ok {"a": {"b": 1}', "{'a': [1, 2}"])
def test_an_unclosed_brace_or_bracket_is_reported_as_cut_off(text):
    e = _error(text)
    assert str(e) == (f"the JSON object is incomplete: the reply was cut off before it closed (it ends with "
                      f"{json.dumps(text)}); send the whole object again, shorter if needed")
    assert e.raw == text


def test_the_tail_shown_of_a_cut_off_reply_is_its_last_60_characters():
    text = '{"a": "' + "".join(chr(ord("a") + i % 26) for i in range(120))
    message = str(_error(text))
    assert json.dumps(text[-60:]) in message and json.dumps(text[-61:]) not in message


# -- the position of a syntax error ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('\n{"a": 1 "b": 2}', "Expecting ',' delimiter at line 2 column 9"),
        ('\n\n{"a": 1 "b": 2}', "Expecting ',' delimiter at line 3 column 9"),
        ('x\n{"a": 1,\n "b" 2}', "Expecting ':' delimiter at line 3 column 6"),
        ('{"a": 1 "b": 2}', "Expecting ',' delimiter at line 1 column 9"),
    ],
)
def test_the_error_position_counts_every_line_break_before_it(text, where):
    assert str(_error(text)) == f"the reply is not valid JSON: {where}; send one valid JSON object"


def test_the_position_is_that_of_the_reply_as_written_not_of_its_relaxed_form():
    # the trailing comma inside the list is the first error of the text as written
    message = str(_error('{"a": [1,], "b" 2}'))
    assert "Expecting value at line 1 column 10" in message


def test_with_two_broken_objects_in_prose_the_first_error_is_reported():
    message = str(_error('first {"a": 1 "b": 2} then {"c" 3}'))
    assert "Expecting ',' delimiter at line 1 column 15" in message


# -- which object in prose is taken ----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'Note {"a": "x}", "inner": {"b": 1}, "bad" 2} end',  # a brace inside a string
        'Note {"a": "q\\"}", "inner": {"b": 1}, "bad" 2} end',  # after an escaped quote
        'Note {"a": "\\"}", "inner": {"b": 1}, "bad" 2} end',  # a string that opens with an escape
        'Note {"a": "\\"", "b": "}", "inner": {"c": 1}, "bad" 2} end',  # an escaped quote, then a brace
        'Note {"a": "q\\\\", "inner": {"b": 1}, "bad" 2} end',  # an escaped backslash ends the string
        'Note {"a": "", "inner": {"b": 1}, "bad" 2} end',  # an empty string
        'Note {"a": [1, 2], "inner": {"b": 1}, "bad" 2} end',  # a list closes inside the object
        'Note {"a": {"c": 1}, "inner": {"b": 1}, "bad" 2} end',  # an object closes inside the object
        'Note {"lr": MAX_LR, "inner": {"b": 1}} end',  # an unquoted word inside the object
    ],
)
def test_an_object_nested_in_a_broken_object_is_never_taken_for_the_answer(text):
    e = _error(text)
    assert "not valid JSON" in str(e) and e.raw == text


def test_an_object_after_a_broken_one_in_prose_is_taken():
    assert parse_json('Draft: {"a": 1 "b"} Final: {"a": 1, "b": [2, 3]} done') == {"a": 1, "b": [2, 3]}


def test_a_trailing_comma_is_fixed_in_an_object_followed_by_other_braces():
    # only the relaxed reading of the first object works; the text up to the last brace is no literal
    assert parse_json('Sure: {"a": [true,],} and then {oops}') == {"a": [True]}


@pytest.mark.parametrize(("broken", "found"), [(63, True), (64, False)])
def test_at_most_64_objects_are_tried_inside_prose(broken, found):
    text = " ".join(['{"bad" 1}'] * broken) + ' {"good": 1} x'
    if found:
        assert parse_json(text) == {"good": 1}
    else:
        assert "not valid JSON" in str(_error(text))


# -- the Python-literal fallback and its size bound ---------------------------------------


def _literal(size: int, prose: int = 0) -> str:
    """A Python-style dict whose first and last braces are ``size`` characters apart, after ``prose``."""
    body = "{'a': '" + "'}"
    return "p" * prose + "{'a': '" + "x" * (size + 1 - len(body)) + "'}"


@pytest.mark.parametrize("prose", [0, 150_000])
def test_a_python_literal_up_to_the_size_bound_is_read(prose):
    text = _literal(199_999, prose)
    assert text.rfind("}") - text.find("{") == 199_999
    assert parse_json(text) == {"a": "x" * (199_999 + 1 - 9)}


def test_a_python_literal_at_the_size_bound_is_not_read():
    text = _literal(200_000)
    assert text.rfind("}") - text.find("{") == 200_000
    assert "not valid JSON" in str(_error(text))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Here: {'a': 1}.", {"a": 1}),
        ("{'a': 0X10, 'b': true}", {"a": 16, "b": True}),
        ("{'k': 'v,]', \"w\": [null, true,],}", {"k": "v,]", "w": [None, True]}),
        # the text after the object holds a brace, so only the relaxed reading of the object works
        ('{"a": "", "b": [1,],} see {ref}', {"a": "", "b": [1]}),
        ('{"a": "\\"", "b": [1,],} see {ref}', {"a": '"', "b": [1]}),
        ('{"a": [1,], "b": "c"} see {ref}', {"a": [1], "b": "c"}),
        ('{"a": [1,], "b": "c,]"} see {ref}', {"a": [1], "b": "c,]"}),
        ('x{"a":"b,]","c":[2,],} see {ref}', {"a": "b,]", "c": [2]}),
    ],
)
def test_lenient_fixes_apply_outside_strings_only(text, value):
    assert parse_json(text) == value


# -- schema errors -----------------------------------------------------------------


class Inner(BaseModel):
    n: int


class Outer(BaseModel):
    inner: Inner
    x: int


class Many(BaseModel):
    a0: int
    a1: int
    a2: int
    a3: int
    a4: int
    a5: int
    a6: int
    a7: int
    a8: int


def test_a_schema_error_names_the_nested_field():
    with pytest.raises(UnparseableReply) as e:
        parse_reply('{"inner": {"n": "many"}, "x": "y"}', Outer)
    assert str(e.value).startswith("the reply does not fit the Outer schema: inner.n: Input should be a valid integer")
    assert "; x: Input should be a valid integer" in str(e.value)
    assert e.value.raw == '{"inner": {"n": "many"}, "x": "y"}'


def test_a_reply_that_is_not_an_object_is_a_root_error():
    with pytest.raises(UnparseableReply) as e:
        parse_reply("[1, 2]", Outer)
    assert str(e.value).startswith("the reply does not fit the Outer schema: (root): ")


def test_a_schema_error_lists_at_most_eight_problems():
    with pytest.raises(UnparseableReply) as e:
        parse_reply("{}", Many)
    listed = str(e.value).split("schema: ", 1)[1].split("; ")
    assert [p.split(":")[0] for p in listed] == [f"a{i}" for i in range(8)]


# -- the marked format and code fences ---------------------------------------------------


def test_a_field_opened_by_its_bare_name_in_double_brackets_is_read():
    assert parse_marked("[[ reasoning ]]\nwhy\n[[ x ]]\n3", ["reasoning", "x"]) == {"reasoning": "why", "x": "3"}


def test_a_heading_marker_and_a_longer_name_sharing_a_prefix_are_read():
    text = "## x ##\n1\n[[ ## x_max ## ]]\n2\n[[ x_max_2 ]]\n3"
    assert parse_marked(text, ["x", "x_max", "x_max_2"]) == {"x": "1", "x_max": "2", "x_max_2": "3"}


@pytest.mark.parametrize("value", [5, None, {"code": "```x```"}])
def test_unfenced_leaves_anything_but_text_alone(value):
    assert unfenced(value) is value


@pytest.mark.parametrize(("text", "code"), [("y = MAX  \n\n", "y = MAX  \n"), ("y = LAST_X", "y = LAST_X\n"), ("\tz = 1\t", "\tz = 1\t\n")])
def test_code_of_plain_text_drops_only_the_trailing_line_breaks(text, code):
    assert code_of(text) == code
