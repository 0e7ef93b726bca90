"""Conformance with Microsoft Trace: nodes, operators, containers and copies.

Each test names the file of Trace's own unit tests (github.com/microsoft/Trace,
``tests/unit_tests/``) whose behaviour it checks; the checks are written here for
tracetune's API (``.value`` for Trace's ``.data``, ``Parameter`` for
``node(..., trainable=True)``). Where tracetune differs on purpose, the test says so
and docs/coming-from-trace.md explains it.
"""

from __future__ import annotations

import copy
import operator

import pytest

from trace_core import Module, Node, Parameter, backward, bundle, no_trace, node


def _has(nodes, n) -> bool:
    return any(p is n for p in nodes)


# -- test_nodes.py ---------------------------------------------------------------------------
def test_sum_of_text_nodes_records_both_parents():  # test_nodes.py: "Sum of str", magic function
    x, y = node("NodeX"), node("NodeY")
    z = x + y
    assert z.value == "NodeXNodeY" and _has(z.parents, x) and _has(z.parents, y)


def test_join_with_nodes_inside_a_list():  # test_nodes.py: "Join of str"
    x, y = node("NodeX"), node("NodeY")
    z = node("+").join([x, y])
    assert z.value == "NodeX+NodeY"
    assert _has(z.parents, x) and _has(z.parents, y)  # nodes inside the list are parents


def test_getitem_of_a_list_of_nodes_gives_the_inner_value():  # test_nodes.py: "Getitem of list of Nodes"
    index = node(0)
    inner = node(1)
    x = node([inner, node(2), node(3)])
    z = x[index]
    assert z.value == 1 and not isinstance(z.value, Node)
    assert _has(z.parents, x) and _has(z.parents, index) and _has(z.parents, inner)
    assert z is not x[index]  # each call records a new node


def test_getitem_of_a_plain_list():  # test_nodes.py: "Getitem of list"
    index, x = node(0), node([1, 2, 3])
    z = x[index]
    assert z.value == 1 and _has(z.parents, x) and _has(z.parents, index)


def test_iterating_a_node_is_refused_on_purpose():  # test_nodes.py: "Test iterables" (differs, documented)
    x = node([1, 2, 3])
    with pytest.raises(TypeError, match="not iterable"):
        list(x)
    assert [x[i].value for i in range(len(x))] == [1, 2, 3]  # index it instead
    d = node({"a": 1, "b": 2})
    assert [d[k].value for k in d.value] == [1, 2]


def test_clone_is_identity_with_one_parent_and_deepcopy_is_detached():  # test_nodes.py: "Test copy"
    z = node([1, 2])[0]
    cloned = z.clone()
    assert cloned.value == z.value and cloned.parents == (z,) and cloned.op.name == "identity"
    copied = copy.deepcopy(z)
    assert copied.value == z.value and copied.parents == () and copied.op is None


def test_comparison_is_traced_and_truthiness_reads_the_value():  # test_nodes.py: "Test boolean operators"
    x, y = node(1), node(2)
    z = x < y
    assert isinstance(z, Node) and z.value is True and bool(z)


def test_nodes_hash_by_identity():  # test_nodes.py: "Test hash"
    x, y = node(1), node(1)
    assert y in [x]  # list membership compares values (== is traced, its value is True)
    assert y not in {x} and hash(x) != hash(y)


def test_a_callable_node_is_called_with_its_arguments_as_parents():  # test_nodes.py: "Test callable node"
    fun = node(lambda v: v + 1)
    arg = node(2)
    out = fun(arg)
    assert out.value == 3 and len(out.parents) == 2 and _has(out.parents, fun) and _has(out.parents, arg)


def test_a_parameter_made_from_a_node_shares_its_value():  # test_nodes.py: "Test trainable of trainable"
    data: list = []
    x = node(data)
    y = Parameter(x, name="y")
    assert y.value is x.value is data
    z = Parameter(Parameter(data, name="inner"), name="outer")
    assert z.value is data


# -- test_basic_operators.py -----------------------------------------------------------------
OPERATORS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv, operator.mod,
             operator.pow, operator.lshift, operator.rshift, operator.and_, operator.or_, operator.xor]


@pytest.mark.parametrize("op", OPERATORS, ids=[f.__name__ for f in OPERATORS])
def test_every_binary_operator_in_both_orders(op):  # test_basic_operators.py
    x, y = node(1), 2
    forward, reflected = op(x, y), op(y, x)
    assert isinstance(forward, Node) and forward.value == op(1, 2)
    assert isinstance(reflected, Node) and reflected.value == op(2, 1)
    assert reflected.parents[0].value == 2 and reflected.parents[1] is x  # operand order kept


def test_invert():  # the unary companion of the bitwise operators
    x = node(5)
    out = ~x
    assert out.value == ~5 and out.op.name == "invert" and out.parents == (x,)


def test_operators_are_methods_of_the_class_itself():
    # Built from the op table when Node is defined: importing trace_core.node alone is enough.
    for name in ("__add__", "__rlshift__", "__xor__", "__invert__", "__getitem__", "clone"):
        assert name in vars(Node), name


def test_len_and_in_return_plain_values():
    x = node([1, 2, 3])
    assert len(x) == 3 and (2 in x) is True and (node(2) in x) is True and (9 in x) is False


def test_len_inside_a_bundle_records_the_parameter_read():
    words = Parameter(["a", "b"], name="words")

    class Holder:
        @bundle
        def count(self):
            return len(words)

    out = Holder().count()
    assert out.value == 2 and _has(out.parents, words)


# -- bug: a node whose value holds nodes (test_bundle.py: "Test get attribute and call") ------
class Scaler:
    def __init__(self):
        self.k = Parameter(3, name="k")
        self.plain = 2

    def scale(self, v):
        return v * self.k

    def own(self):
        return self.k


def test_a_method_of_a_node_value_reads_parameters_and_returns_a_plain_value():
    out = node(Scaler()).scale(2)
    assert out.value == 6 and not isinstance(out.value, Node)
    k = out.parents[-1]
    assert isinstance(k, Parameter) and k.name == "k"
    assert [p.name for p in backward(out, "too big")] == ["k"]


def test_an_attribute_that_is_a_node_becomes_a_parent():
    holder = node(Scaler())
    k = holder.k
    assert k.value == 3 and _has(k.parents, holder) and any(p.name == "k" for p in k.parents)
    returned = holder.own()
    assert returned.value == 3 and list(backward(returned, "more"))[0].name == "k"
    assert holder.plain.value == 2


def test_untraced_method_calls_return_plain_values():
    with no_trace():
        assert node(Scaler()).scale(2) == 6


# -- test_containers.py ------------------------------------------------------------------------
def test_parameters_inside_nested_containers_and_as_dict_keys():
    class Holder(Module):
        def __init__(self):
            self.seq = [1, Parameter(2, name="two"), [3, Parameter(4, name="four"), 5]]
            self.table = {"a": 1, "b": Parameter(2, name="b"), Parameter("c", name="key"): 3}

    names = [p.name for p in Holder().parameters()]
    assert sorted(names) == ["b", "four", "key", "two"]


def test_plain_containers_hold_no_parameters():
    class Holder(Module):
        def __init__(self):
            self.seq = [1, 2, [3, 4, 5]]

    assert Holder().parameters() == []


# -- test_copy.py --------------------------------------------------------------------------------
def test_deepcopy_of_nodes_parameters_and_a_trainable_functions_code():
    x = node("x")
    assert copy.deepcopy(x).value == "x"
    p = Parameter("x", name="p")
    q = copy.deepcopy(p)
    assert isinstance(q, Parameter) and q is not p and q.name == "p" and q.value == "x"

    @bundle(trainable=True)
    def fun(x):
        pass

    code = copy.deepcopy(fun.parameter)
    assert code.value == fun.parameter.value and code.space is fun.parameter.space
