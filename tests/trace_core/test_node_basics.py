"""Node and Parameter basics: default names and descriptions, repr, iteration, tracing switches."""

from __future__ import annotations

import pytest

from trace_core.node import ExceptionNode, Node, Parameter, catching, is_tracing, no_trace, node, using
from trace_core.spaces import Any_, Int


class _Op:
    name = "add"


def test_a_node_is_named_by_its_name_then_its_op_then_node():
    assert Node(1).name == "node"
    assert Node(1, op=_Op()).name == "add"
    assert Node(1, name="x", op=_Op()).name == "x"
    assert Node(1, name="").name == ""  # an empty name is a name
    plain = Node(1)
    assert (plain.description, plain.parents, plain.op) == ("", (), None)


def test_node_wraps_a_constant_with_a_name_and_description():
    c = node(3)
    assert (c.name, c.description, c.value, c.parents) == ("const", "", 3, ())
    d = node(3, name="k", description="the constant k")
    assert (d.name, d.description) == ("k", "the constant k")


def test_a_parameter_has_a_default_name_description_and_space():
    p = Parameter(1)
    assert (p.name, p.description, p.trainable) == ("param", "", True)
    assert isinstance(p.space, Any_)
    q = Parameter("3", name="depth", space=Int(1, 5), description="layers")
    assert (q.name, q.description, q.value) == ("depth", "layers", 3)


def test_repr_shows_the_class_name_and_value_cut_at_60_characters():
    assert repr(Node(5, name="x")) == "Node(x=5)"
    assert repr(Parameter(0.5, name="lr")) == "Parameter(lr=0.5)"
    exact = "a" * 58  # repr adds two quotes: 60 characters are shown whole
    assert repr(Node(exact, name="s")) == f"Node(s='{exact}')"
    longer = "a" * 59
    assert repr(Node(longer, name="s")) == "Node(s='" + "a" * 56 + "...)"


def test_iterating_a_node_says_what_to_do_instead():
    with pytest.raises(TypeError) as info:
        list(Node([1, 2]))
    assert str(info.value) == (
        "a traced Node is not iterable; index it (node[i]) or use node.value for the plain value")


def test_tracing_switches_are_exact_booleans_and_restore():
    assert is_tracing() is True
    with no_trace():
        assert is_tracing() is False
    assert is_tracing() is True
    assert bool(ExceptionNode(ValueError("x"))) is False
    with catching():
        assert is_tracing() is True


def test_using_reads_overrides_only_for_the_named_parameter():
    p, q = Parameter(1, name="p"), Parameter(2, name="q")
    with using({"p": 10}):
        assert (p.value, q.value) == (10, 2)
        with using({"q": 20}):
            assert (p.value, q.value) == (10, 20)
    assert (p.value, q.value) == (1, 2)
