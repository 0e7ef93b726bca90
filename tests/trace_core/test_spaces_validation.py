"""The spaces' validation table: what each space accepts, how it coerces, and that
every rejection is an InvalidProposal whose message says what is allowed."""

from __future__ import annotations

import enum
import math

import numpy as np
import pytest
from pydantic import BaseModel

from trace_core import InvalidProposal, TraceTuneError
from trace_core.spaces import Choice, Code, Float, Int, Json, Text


class Arch(BaseModel):
    width: int = 8
    activation: str = "relu"


LR = Float(1e-5, 1.0, log=True)
UNIT = Float(0.0, 1.0)
DEPTH = Int(1, 10)
FLAG = Choice([True, False])
OPT = Choice(["adam", "sgd"])
SIZES = Choice([16, 32, 64])
CODE = Code(name="f", args=["x", "*rest", "**kw"])
TEXT = Text(max_chars=5)
ARCH = Json(Arch)

ACCEPTED = [
    (FLAG, "False", False),
    (FLAG, " true ", True),
    (FLAG, True, True),
    (OPT, "SGD", "sgd"),
    (SIZES, "32", 32),
    (SIZES, 64.0, 64),
    (LR, "1e-3", 0.001),
    (LR, 1, 1.0),
    (UNIT, np.float32(0.5), 0.5),
    (UNIT, 0, 0.0),
    (DEPTH, "3", 3),
    (DEPTH, 3.0, 3),
    (DEPTH, np.int64(4), 4),
    (Int(0, 10**18), 10**17 + 1, 10**17 + 1),
    (TEXT, "hello", "hello"),
    (Text(), "x" * 10_000, "x" * 10_000),
    (CODE, "def f(x, *rest, **kw):\n    return x\n", "def f(x, *rest, **kw):\n    return x\n"),
    (Code(), "x = 1\n", "x = 1\n"),
    (Float(0.5, 0.5), "0.5", 0.5),  # lo == hi: one allowed value
    (Int(0, 10**30), "1000000000000000000000001", 10**24 + 1),  # integer text is parsed exactly
    (Int(1, 1000), "1e2", 100),
    (OPT, '"adam"', "adam"),  # a JSON-quoted string
    (Choice([None, "a"]), "null", None),
    (Choice([None, "a"]), "None", None),
    (Choice([(1, 2), (3, 4)]), [3, 4], (3, 4)),  # JSON has no tuples: a list matches a tuple option
    (Choice([(1, 2), (3, 4)]), "[1, 2]", (1, 2)),
    (Choice([1, "1", True]), "1", "1"),  # mixed types: an exact match (same type) wins
    (Choice([1, "1", True]), 1, 1),
    (Choice([1, "1", True]), True, True),
    (Choice([True, 1, "a"]), "1", 1),  # then the JSON reading of the text
]


@pytest.mark.parametrize("space,value,expected", ACCEPTED, ids=[f"{s.kind}-{v!r}"[:40] for s, v, _ in ACCEPTED])
def test_accepted_values_are_coerced(space, value, expected):
    clean = space.validate(value)
    assert clean == expected and type(clean) is type(expected)


REJECTED = [
    (FLAG, "maybe", "one of true, false"),
    (FLAG, 1, "one of"),
    (OPT, "rmsprop", 'one of "adam", "sgd"'),
    (SIZES, True, "one of 16, 32, 64"),
    (LR, 2.0, "out of range; a number between 1e-05 and 1 (log scale)"),
    (LR, 0.0, "out of range"),
    (LR, float("nan"), "not a finite number"),
    (LR, "nan", "not a finite number"),
    (UNIT, float("inf"), "not a finite number"),
    (UNIT, True, "boolean"),
    (UNIT, "fast", "expected a number"),
    (UNIT, None, "expected a number"),
    (DEPTH, 3.5, "not a whole number; an integer between 1 and 10"),
    (DEPTH, "3.5", "not a whole number"),
    (DEPTH, 11, "out of range"),
    (DEPTH, "11", "out of range"),
    (DEPTH, False, "boolean"),
    (DEPTH, float("nan"), "not a whole number"),
    (TEXT, "hello!", "at most 5"),
    (TEXT, 5, "expected text"),
    (CODE, "def f(x:\n", "does not parse"),
    (CODE, "def g(x, *rest, **kw):\n    pass\n", "named 'f'"),
    (CODE, "def f(x, y):\n    pass\n", "signature"),
    (CODE, "def f(y, *rest, **kw):\n    pass\n", "signature"),
    (CODE, b"def f(x): pass", "string"),
    (ARCH, '{"width": "wide"}', "width"),
    (ARCH, "not json at all", "Arch schema"),
    (ARCH, ["width", 8], "Arch schema"),
    (UNIT, 10**400, "too large"),  # an int past float range is a proposal error, not an OverflowError
    (Choice([(1, 2), (3, 4)]), [1, 3], "one of [1, 2], [3, 4]"),
]


@pytest.mark.parametrize("space,value,message", REJECTED, ids=[f"{s.kind}-{v!r}"[:40] for s, v, _ in REJECTED])
def test_rejected_values_raise_a_message_fit_for_an_llm(space, value, message):
    with pytest.raises(InvalidProposal) as info:
        space.validate(value)
    assert message in str(info.value)
    assert isinstance(info.value, TraceTuneError) and isinstance(info.value, ValueError)


def test_json_space_accepts_a_json_string_a_dict_and_an_instance():
    from_string = ARCH.validate('{"width": 16}')
    assert isinstance(from_string, Arch) and from_string.width == 16 and from_string.activation == "relu"
    assert ARCH.validate({"width": 4, "activation": "tanh"}) == Arch(width=4, activation="tanh")
    assert ARCH.validate(Arch(width=2)) == Arch(width=2)
    assert ARCH.to_json(Arch(width=2)) == {"width": 2, "activation": "relu"}
    assert ARCH.schema()["properties"]["width"]["type"] == "integer"
    with pytest.raises(InvalidProposal) as info:
        ARCH.validate('{"width": "wide"}')
    assert '"width"' in str(info.value)  # the message shows the allowed schema


def test_describe_and_schema_say_what_is_allowed():
    assert LR.schema() == {"type": "number", "minimum": 1e-5, "maximum": 1.0}
    assert DEPTH.schema() == {"type": "integer", "minimum": 1, "maximum": 10}
    assert FLAG.schema() == {"enum": [True, False]}
    assert TEXT.schema() == {"type": "string", "maxLength": 5}
    assert "Arch" in ARCH.describe()
    assert "def f(x, *rest, **kw)" in CODE.describe()


@pytest.mark.parametrize(
    "build",
    [lambda: Float(1.0, 0.0), lambda: Float(0.0, 1.0, log=True), lambda: Int(5, 1), lambda: Choice([]),
     lambda: Int(0, 8, log=True), lambda: Int(0.5, 3), lambda: Json(dict), lambda: Choice(iter([]))],
    ids=["float-lo>hi", "log-zero", "int-lo>hi", "empty-choice", "int-log-zero", "int-fraction-bound",
         "json-not-a-model", "empty-choice-iterator"],
)
def test_invalid_space_definitions_are_refused(build):
    with pytest.raises((ValueError, TypeError)):
        build()


def test_float_returns_a_python_float_even_from_numpy():
    clean = UNIT.validate(np.float64(0.25))
    assert type(clean) is float and math.isclose(clean, 0.25)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


def test_choice_of_enum_members_describes_validates_and_saves_as_json():
    space = Choice(list(Color))
    assert space.describe() == 'one of "red", "green"'
    assert space.schema() == {"enum": ["red", "green"]}
    assert space.validate("green") is Color.GREEN  # the member's value (as saved in a state dict)
    assert space.validate("RED") is Color.RED  # the member's name
    assert space.validate(Color.RED) is Color.RED
    assert space.to_json(Color.GREEN) == "green"
    with pytest.raises(InvalidProposal, match='one of "red", "green"'):
        space.validate("blue")


def test_choice_of_tuples_reads_as_json_lists():
    space = Choice([(16, 16), (32, 32)])
    assert space.describe() == "one of [16, 16], [32, 32]"
    assert space.schema() == {"enum": [[16, 16], [32, 32]]}
    assert space.to_json((16, 16)) == [16, 16]
    assert space.validate(space.to_json((32, 32))) == (32, 32)


def test_choice_describe_never_fails_on_options_json_cannot_write():
    assert "object" in Choice([object, None]).describe()


def test_json_space_validates_nested_models():
    class Layer(BaseModel):
        width: int

    class Net(BaseModel):
        layers: list[Layer]
        head: Layer

    space = Json(Net)
    net = space.validate('{"layers": [{"width": 4}, {"width": "8"}], "head": {"width": 2}}')
    assert [layer.width for layer in net.layers] == [4, 8] and net.head == Layer(width=2)
    assert space.to_json(net) == {"layers": [{"width": 4}, {"width": 8}], "head": {"width": 2}}
    with pytest.raises(InvalidProposal, match=r"layers\.1\.width"):
        space.validate({"layers": [{"width": 4}, {"width": "wide"}], "head": {"width": 2}})
