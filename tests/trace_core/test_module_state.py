"""Module: finding parameters, state dicts, JSON save/load and its error cases."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from trace_core import ConfigError, Module, Parameter, bundle, node, unique_names
from trace_core.spaces import Choice, Float, Int, Json, Text


class Arch(BaseModel):
    width: int = 8
    layers: int = 2


@bundle(trainable=True)
def postprocess(text):
    """Cleans the answer."""
    return text.strip()


class Head(Module):
    def __init__(self):
        self.temperature = Parameter(0.7, name="temperature", space=Float(0.0, 2.0))


class Pipeline(Module):
    def __init__(self):
        self.prompt = Parameter("Answer briefly.", name="prompt", space=Text())
        self.layers = [Parameter(4, name="depth", space=Int(1, 64))]
        self.options = {"act": Parameter("relu", name="activation", space=Choice(["relu", "tanh"]))}
        self.arch = Parameter(Arch(), name="arch", space=Json(Arch))
        self.head = Head()
        self.post = postprocess
        self.again = self.prompt  # the same parameter twice is listed once
        self.me = self  # cycles are fine
        self.constant = node(3)

    @bundle(trainable=True)
    def decide(self, x):
        return x > 0


NAMES = ["Pipeline.decide", "prompt", "depth", "activation", "arch", "temperature", "postprocess"]


def test_parameters_are_found_in_attributes_lists_dicts_submodules_and_bundles():
    m = Pipeline()
    params = m.parameters()
    assert [p.name for p in params] == NAMES
    assert params[1] is m.prompt and params[-1] is postprocess.parameter
    assert list(m) == params
    assert list(m.named_parameters()) == NAMES


def test_state_dict_is_json_data_keyed_by_name():
    m = Pipeline()
    state = m.state_dict()
    assert set(state) == set(NAMES)
    assert state["arch"] == {"width": 8, "layers": 2}
    assert state["depth"] == 4 and state["prompt"] == "Answer briefly."
    assert state["Pipeline.decide"].startswith("def decide(self, x):")
    json.dumps(state)


def test_save_load_round_trip(tmp_path):
    m = Pipeline()
    m.prompt.set("Think step by step.")
    m.layers[0].set(16)
    m.options["act"].set("tanh")
    m.arch.set({"width": 32, "layers": 3})
    m.head.temperature.set(1.5)
    m.decide.parameter.set("def decide(self, x):\n    return x < 0\n")
    path = tmp_path / "state.json"
    m.save(path)
    assert json.loads(path.read_text())["depth"] == 16

    fresh = Pipeline()
    assert fresh.state_dict() != m.state_dict()
    fresh.load(path)
    assert fresh.state_dict() == m.state_dict()
    assert isinstance(fresh.arch.value, Arch) and fresh.arch.value.width == 32
    assert fresh.decide(node(-1)).value is True  # the loaded code runs


def assert_unchanged(m: Pipeline, before: dict) -> None:
    assert m.state_dict() == before


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda s: s.update(extra=1), "unknown ['extra']"),
        (lambda s: s.pop("depth"), "missing ['depth']"),
        (lambda s: s.update(depth=1000), "depth: 1000 is out of range"),
        (lambda s: s.update(activation="gelu"), "activation"),
        (lambda s: s.update(arch='{"width": "wide"}'), "arch"),
        (lambda s: s.update({"Pipeline.decide": "def decide(x):\n    return x\n"}), "signature"),
    ],
    ids=["unknown", "missing", "out-of-range", "bad-choice", "bad-json", "bad-code"],
)
def test_a_bad_state_is_a_clear_error_and_changes_nothing(edit, message):
    m = Pipeline()
    before = m.state_dict()
    state = dict(before, prompt="a new prompt that would be valid")
    edit(state)
    with pytest.raises(ConfigError) as info:
        m.load_state_dict(state)
    assert message in str(info.value)
    assert_unchanged(m, before)


def test_load_refuses_files_that_are_not_a_state(tmp_path):
    m = Pipeline()
    before = m.state_dict()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        m.load(broken)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        m.load(listed)
    assert_unchanged(m, before)


def test_two_parameters_with_one_name_are_a_clear_error():
    class Twins(Module):
        def __init__(self):
            self.a = Parameter(1, name="x")
            self.b = Parameter(2, name="x")

    with pytest.raises(ConfigError, match="two parameters are named 'x'"):
        Twins().state_dict()
    p = Parameter(1, name="y")
    assert unique_names([p, p]) == {"y": p}


def test_save_refuses_a_value_json_cannot_hold_and_writes_nothing(tmp_path):
    class Holder(Module):
        def __init__(self):
            self.handle = Parameter(object(), name="handle")
            self.note = Parameter("kept", name="note", space=Text())

    with pytest.raises(ConfigError, match=r"\['handle'\]"):
        Holder().save(tmp_path / "state.json")
    assert list(tmp_path.iterdir()) == []  # no half-written file or leftover .tmp


def test_modules_in_nested_lists_and_dicts_and_enum_choices_round_trip(tmp_path):
    import enum

    class Mode(enum.Enum):
        FAST = "fast"
        SAFE = "safe"

    class Layer(Module):
        def __init__(self, i):
            self.width = Parameter(8, name=f"width{i}", space=Int(1, 64))

    class Net(Module):
        def __init__(self):
            self.blocks = [[Layer(0), Layer(1)], {"head": (Layer(2),)}]
            self.mode = Parameter(Mode.FAST, name="mode", space=Choice(list(Mode)))

    net = Net()
    assert [p.name for p in net.parameters()] == ["width0", "width1", "width2", "mode"]
    net.blocks[1]["head"][0].width.set(32)
    net.mode.set("safe")
    net.save(tmp_path / "net.json")
    assert json.loads((tmp_path / "net.json").read_text())["mode"] == "safe"
    other = Net()
    other.load(tmp_path / "net.json")
    assert other.blocks[1]["head"][0].width.value == 32 and other.mode.value is Mode.SAFE


def test_two_instances_of_one_class_get_numbered_code_parameters(tmp_path):
    from tests.trace_core.agents_fixture_mod import Pair
    from trace_core import node, using

    pair = Pair()
    names = [p.name for p in pair.parameters()]
    assert names == ["Agent.act", "Agent.act[2]"] == [p.name for p in pair.parameters()]  # stable
    with using({"Agent.act[2]": "def act(self, x):\n    return x * 10\n"}):
        assert (pair.a.act(node(3)).value, pair.b.act(node(3)).value) == (4, 30)
    pair.save(tmp_path / "pair.json")
    again = Pair()
    again.load(tmp_path / "pair.json")
    assert again.state_dict() == pair.state_dict()
