"""Nodes, parameters and the operator table: one row per op, one op interface."""

from __future__ import annotations

import operator

import pytest

from trace_core import (
    OPS,
    ExceptionNode,
    InvalidProposal,
    Node,
    Parameter,
    TracedError,
    TraceTuneError,
    bundle,
    catching,
    no_trace,
    node,
    using,
)
from trace_core.spaces import Float, Int

BINARY = [
    ("add", operator.add, 7, 2, 9),
    ("sub", operator.sub, 7, 2, 5),
    ("mul", operator.mul, 7, 2, 14),
    ("truediv", operator.truediv, 7, 2, 3.5),
    ("floordiv", operator.floordiv, 7, 2, 3),
    ("mod", operator.mod, 7, 2, 1),
    ("pow", operator.pow, 7, 2, 49),
    ("eq", operator.eq, 7, 2, False),
    ("ne", operator.ne, 7, 2, True),
    ("lt", operator.lt, 7, 2, False),
    ("le", operator.le, 2, 2, True),
    ("gt", operator.gt, 7, 2, True),
    ("ge", operator.ge, 1, 2, False),
    ("getitem", operator.getitem, [4, 5, 6], 1, 5),
]


@pytest.mark.parametrize("name,fn,a,b,expected", BINARY, ids=[row[0] for row in BINARY])
def test_binary_operator_records_one_node(name, fn, a, b, expected):
    x, y = node(a, name="x"), node(b, name="y")
    out = fn(x, y)
    assert isinstance(out, Node)
    assert out.value == expected
    assert out.op is OPS[name] and out.name == name
    assert out.parents[0] is x and out.parents[1] is y
    plain = fn(x, b)  # a plain operand becomes a constant node
    assert plain.value == expected and plain.parents[1].value == b and plain.parents[1].name == "const"


@pytest.mark.parametrize("name,fn,expected", [("neg", operator.neg, 3), ("pos", operator.pos, -3), ("abs", abs, 3)])
def test_unary_operator(name, fn, expected):
    x = node(-3)
    out = fn(x)
    assert out.value == expected and out.op.name == name and out.parents[0] is x


@pytest.mark.parametrize("name,fn", [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                                     ("truediv", operator.truediv), ("pow", operator.pow), ("mod", operator.mod),
                                     ("floordiv", operator.floordiv)])
def test_reflected_operators_keep_the_operand_order(name, fn):
    x = node(4)
    out = fn(10, x)
    assert out.value == fn(10, 4)
    assert out.op.name == name and out.parents[0].value == 10 and out.parents[1] is x


def test_attribute_call_and_format_are_traced():
    text = node("hello world", name="text")
    upper = text.upper()
    assert upper.value == "HELLO WORLD" and upper.op.name == "call"
    method = upper.parents[0]
    assert method.op.name == "getattr" and method.parents[0] is text
    template = node("{greeting}, {name}!")
    who = Parameter("Ada", name="who")
    greeting = template.format(greeting="Hi", name=who)
    assert greeting.value == "Hi, Ada!"
    assert any(p is who for p in greeting.parents)
    assert node(3 + 4j).real.value == 3.0


def test_every_op_has_the_op_interface():
    @bundle
    def f(x):
        """Adds one."""
        return x + 1

    for op in [*OPS.values(), f]:
        assert isinstance(op.name, str) and op.name
        assert isinstance(op.description, str) and op.description
        assert isinstance(op.source, str) and op.source
    assert OPS["add"].source.format("a", "b") == "a + b"
    assert f.description == "Adds one." and f.source.startswith("def f(x):")


def test_bool_str_and_format_use_the_value_untraced():
    zero, word = node(0), node("hi")
    assert bool(zero) is False and bool(word) is True
    assert str(word) == "hi" and f"{node(0.5):.2f}" == "0.50" and f"[{word}]" == "[hi]"
    assert "hi" in repr(word)
    assert not bool(node(1) == node(2))
    assert isinstance(node(1) == node(1), Node)  # == is traced


def test_nodes_hash_by_identity_and_use_slots():
    a, b = node(1), node(1)
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b"
    assert len({a, b, a}) == 2
    with pytest.raises(AttributeError):
        a.anything_new = 1


def test_missing_attribute_is_an_attribute_error_so_hasattr_works():
    n = node({"k": 1}, name="mapping")
    assert hasattr(n, "keys")
    assert not hasattr(n, "no_such_attribute")
    assert getattr(n, "no_such_attribute", "default") == "default"
    with pytest.raises(AttributeError, match="no_such_attribute"):
        n.no_such_attribute
    with pytest.raises(AttributeError):
        n._private
    with catching():  # an ExceptionNode is feedback; a missing attribute stays an AttributeError
        assert not hasattr(n, "no_such_attribute")
        assert getattr(n, "no_such_attribute", "default") == "default"
        assert hasattr(n, "keys")


def test_a_node_is_not_iterable():
    with pytest.raises(TypeError, match="not iterable"):
        list(node([1, 2]))
    assert node([1, 2])[0].value == 1


def test_node_wraps_constants_once():
    x = node(5, name="five")
    assert node(x) is x
    assert x.parents == () and x.op is None and x.name == "five" and not x.trainable
    assert node(5).name == "const"


def test_parameter_set_validates_and_keeps_the_old_value_on_error():
    lr = Parameter(0.1, name="lr", space=Float(1e-4, 1.0, log=True), description="learning rate")
    assert lr.trainable and lr.description == "learning rate"
    lr.set("0.01")
    assert lr.value == 0.01
    with pytest.raises(InvalidProposal, match="out of range"):
        lr.set(5)
    assert lr.value == 0.01
    with pytest.raises(InvalidProposal):
        Parameter(100, name="n", space=Int(0, 10))
    assert Parameter([1, 2]).name == "param"  # default name, no constraint


def test_using_overrides_by_name_merges_and_restores():
    a, b = Parameter(1, name="a"), Parameter(2, name="b")
    with using({"a": 10}):
        assert a.value == 10 and b.value == 2
        assert (a + b).value == 12
        with using({"b": 20}):
            assert (a.value, b.value) == (10, 20)
        assert b.value == 2
    assert (a.value, b.value) == (1, 2)


def test_no_trace_returns_plain_values_and_restores():
    x = node(2)

    @bundle
    def square(v):
        return v * v

    with no_trace():
        assert (x + 1) == 3 and type(x + 1) is int
        assert square(x) == 4
    assert isinstance(x + 1, Node) and isinstance(square(x), Node)


def test_op_error_raises_traced_error_with_an_exception_node():
    x, zero = node(1, name="x"), node(0, name="zero")
    with pytest.raises(TracedError) as info:
        x / zero
    err = info.value
    assert isinstance(err, TraceTuneError)
    enode = err.exception_node
    assert isinstance(enode, ExceptionNode) and not enode
    assert isinstance(enode.value, ZeroDivisionError)
    assert enode.description.startswith("ZeroDivisionError: division by zero")
    assert "Traceback" in enode.description
    assert enode.op.name == "truediv" and enode.parents[0] is x and enode.parents[1] is zero
    assert isinstance(err.__cause__, ZeroDivisionError)


def test_catching_returns_the_exception_node_and_restores():
    x = node("abc")
    with catching():
        enode = x + 1
    assert isinstance(enode, ExceptionNode) and isinstance(enode.value, TypeError)
    assert "TypeError" in enode.description
    with pytest.raises(TracedError):
        x + 1


def test_budget_and_pruning_signals_pass_through_ops_unchanged():
    import pytest

    from trace_core import BudgetExceeded, Pruned, bundle, catching, node

    @bundle
    def spend(x):
        raise BudgetExceeded("out of tokens", limit="max_tokens")

    @bundle(catch=True)
    def prune(x):
        raise Pruned("hopeless", step=2, value=0.1)

    with pytest.raises(BudgetExceeded):
        spend(node(1))
    with catching(), pytest.raises(Pruned):
        prune(node(1))


def test_a_numpy_array_on_the_left_gives_one_traced_op_not_an_array_of_nodes():
    import numpy as np

    n = node(3.0, name="n")
    out = np.array([1.0, 2.0]) + n
    assert isinstance(out, Node) and out.op.name == "add"
    assert out.value.tolist() == [4.0, 5.0] and out.parents[1] is n
