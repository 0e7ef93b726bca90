"""Every bound of every space, and the exact words a refusal sends to the LLM.

Spaces are built inside the tests (not at import), so a wrong constructor shows."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import BaseModel, create_model

from trace_core import InvalidProposal
from trace_core.spaces import Any_, Choice, Code, Float, Int, Json, Space, Text


def _refusal(space: Space, value) -> str:
    with pytest.raises(InvalidProposal) as info:
        space.validate(value)
    return str(info.value)


# -- Float ---------------------------------------------------------------------------------


def test_float_bounds_are_inclusive_and_stored_as_floats():
    space = Float(1, 2)
    assert space.validate(1) == 1.0 and space.validate(2) == 2.0
    assert type(space.lo) is float and type(space.hi) is float
    assert space.schema() == {"type": "number", "minimum": 1.0, "maximum": 2.0}
    assert _refusal(space, 2.5) == "2.5 is out of range; a number between 1 and 2"
    assert _refusal(space, 0.5) == "0.5 is out of range; a number between 1 and 2"
    assert Float(1, 1).validate("1") == 1.0  # lo == hi: one allowed value


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Float(2, 1), "Float space needs lo <= hi, got 2, 1"),
        (lambda: Float(0, 1, log=True), "a log-scale Float needs lo > 0, got 0"),
        (lambda: Float(-1, 1, log=True), "a log-scale Float needs lo > 0, got -1"),
        (lambda: Int(5, 1), "Int space needs lo <= hi, got 5, 1"),
        (lambda: Int(0.5, 3), "Int space needs whole-number bounds, got 0.5, 3"),
        (lambda: Int(1, 10.5), "Int space needs whole-number bounds, got 1, 10.5"),
        (lambda: Int(0, 8, log=True), "a log-scale Int needs lo >= 1, got 0"),
        (lambda: Choice([]), "Choice needs at least one option"),
    ],
)
def test_a_bad_space_definition_says_what_is_wrong(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message


def test_log_scale_floats_accept_any_positive_lower_bound():
    assert Float(0.5, 2, log=True).describe() == "a number between 0.5 and 2 (log scale)"
    assert Float(1e-5, 1.0, log=True).validate(1e-5) == 1e-5
    assert Float(0, 1).describe() == "a number between 0 and 1"
    assert Float(-1, 1).validate(-1) == -1.0


def test_float_refusals_name_the_value_and_the_range():
    space = Float(0, 1)
    assert _refusal(space, float("nan")) == "nan is not a finite number; a number between 0 and 1"
    assert _refusal(space, "inf") == "'inf' is not a finite number; a number between 0 and 1"
    assert _refusal(space, "fast") == "expected a number, got str 'fast'"
    assert _refusal(space, None) == "expected a number, got NoneType None"
    assert _refusal(space, True) == "expected a number, got the boolean True"
    assert _refusal(space, 10**400) == "1" + "0" * 76 + "... is too large to be a number here"


def test_long_values_are_cut_to_80_characters_in_messages():
    space = Float(0, 1)
    fits = "x" * 78  # its repr is 80 characters: shown whole
    assert _refusal(space, fits) == f"expected a number, got str '{fits}'"
    cut = "x" * 79
    assert _refusal(space, cut) == "expected a number, got str '" + "x" * 76 + "..."


# -- Int -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 10, 1.0, 10.0, "1", "10", "10.0", "1e1"])
def test_int_bounds_are_inclusive_whatever_the_form_of_the_value(value):
    clean = Int(1, 10).validate(value)
    assert clean in (1, 10) and type(clean) is int


@pytest.mark.parametrize(("value", "shown"), [(0, "0"), (11, "11"), (0.0, "0"), (11.0, "11"), ("11", "11"),
                                               ("11.0", "11"), (-3, "-3")])
def test_int_values_past_a_bound_are_refused_with_the_range(value, shown):
    assert _refusal(Int(1, 10), value) == f"{shown} is out of range; an integer between 1 and 10"


def test_int_bounds_given_as_whole_floats_become_ints():
    space = Int(1.0, 10.0)
    assert (space.lo, space.hi) == (1, 10) and type(space.lo) is int and type(space.hi) is int
    assert space.describe() == "an integer between 1 and 10"
    assert space.schema() == {"type": "integer", "minimum": 1, "maximum": 10}


def test_an_int_space_of_one_value():
    space = Int(5, 5)
    assert space.validate("5") == 5 and space.validate(5.0) == 5
    assert _refusal(space, 4) == "4 is out of range; an integer between 5 and 5"
    assert _refusal(space, 6.0) == "6 is out of range; an integer between 5 and 5"


def test_int_log_scale_and_whole_number_messages():
    assert Int(1, 100, log=True).describe() == "an integer between 1 and 100 (log scale)"
    assert Int(2, 100, log=True).validate(2) == 2
    assert Int(0, 8).describe() == "an integer between 0 and 8"
    assert _refusal(Int(1, 10), 3.5) == "3.5 is not a whole number; an integer between 1 and 10"
    assert _refusal(Int(1, 10), "2.5") == "'2.5' is not a whole number; an integer between 1 and 10"


# -- Text and Code -------------------------------------------------------------------------


def test_text_limit_is_inclusive_and_its_words():
    space = Text(max_chars=3)
    assert space.validate("abc") == "abc"
    assert _refusal(space, "abcd") == "text is 4 characters long; at most 3 are allowed — shorten it"
    assert space.describe() == "text, at most 3 characters"
    assert Text().describe() == "text" and Text().schema() == {"type": "string"}
    assert _refusal(Text(), 5) == "expected text (a JSON string), got int 5"


def test_code_describes_the_signature_to_keep():
    assert Code().describe() == "Python code"
    assert Code(name="f").describe() == "Python code: keep the signature def f"
    assert Code(name="f", args=("x", "*rest")).describe() == "Python code: keep the signature def f(x, *rest)"
    assert Code(name="g", args=[]).describe() == "Python code: keep the signature def g()"
    assert Code().schema() == {"type": "string"} and Code().kind == "code"


# -- Choice --------------------------------------------------------------------------------


def test_choice_reads_null_and_none_in_any_case_only_for_a_none_option():
    space = Choice([None, "a"])
    for text in ("NULL", " none ", "None", "null"):
        assert space.validate(text) is None
    assert _refusal(space, "b") == "'b' is not allowed; one of null, \"a\""
    assert _refusal(space, "not json") == "'not json' is not allowed; one of null, \"a\""
    assert _refusal(Choice(["a"]), "null") == "'null' is not allowed; one of \"a\""


def test_choice_reads_a_quoted_string_case_insensitively():
    assert Choice(["adam", "sgd"]).validate('"ADAM"') == "adam"
    assert Choice(["adam", "sgd"]).validate(" Sgd ") == "sgd"


# -- Json ----------------------------------------------------------------------------------


class _Unsorted(BaseModel):
    zeta: int = 1
    alpha: str = "a"


class _When(BaseModel):
    at: dt.date = dt.date(2024, 1, 2)
    pair: tuple[int, int] = (1, 2)


def test_json_describes_its_schema_with_sorted_keys():
    space = Json(_Unsorted)
    schema = json.dumps(_Unsorted.model_json_schema(), sort_keys=True)
    assert space.describe() == f"JSON object of schema _Unsorted: {schema}"
    assert space.describe().index('"alpha"') < space.describe().index('"zeta"')


def test_json_refusals_list_each_problem_and_the_sorted_schema():
    space = Json(_Unsorted)
    message = _refusal(space, {"zeta": "many", "alpha": 5})
    assert message.startswith("the value does not fit the _Unsorted schema: zeta: ")
    assert "; alpha: " in message
    assert message.endswith(f"Allowed: {json.dumps(_Unsorted.model_json_schema(), sort_keys=True)}")
    assert _refusal(space, [1]).startswith("the value does not fit the _Unsorted schema: value: ")


def test_json_refusals_show_at_most_ten_problems_and_1500_characters_of_schema():
    wide = create_model("Wide", **{f"field_{i:02d}_" + "x" * 40: (int, ...) for i in range(12)})
    message = _refusal(Json(wide), {f"field_{i:02d}_" + "x" * 40: "no" for i in range(12)})
    assert message.count("Input should be a valid integer") == 10
    assert len(message.split("Allowed: ", 1)[1]) == 1500


def test_json_to_json_is_plain_json_data():
    space = Json(_When)
    assert space.to_json(_When()) == {"at": "2024-01-02", "pair": [1, 2]}
    assert space.to_json({"at": "2024-01-02"}) == {"at": "2024-01-02"}  # already data: unchanged
    with pytest.raises(TypeError, match="pydantic model class"):
        Json(dict)


# -- the base space ------------------------------------------------------------------------


def test_the_base_space_accepts_anything_and_says_so():
    value = object()
    assert Space().validate(value) is value and Any_().validate(value) is value
    assert Space().describe() == "any value" and Space().schema() == {} and Space().to_json(value) is value
    assert repr(Any_()) == "Any_(any value)"
    assert repr(Float(0, 1)) == "Float(a number between 0 and 1)"
