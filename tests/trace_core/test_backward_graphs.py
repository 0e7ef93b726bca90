"""backward on hand-sized graphs whose minimal subgraphs are known (micrograd-style),
minibatches, repeated inputs, deep chains and the absence of a global registry."""

from __future__ import annotations

import gc
import sys
import weakref

import pytest

from trace_core import (
    ConfigError,
    Feedback,
    Node,
    Parameter,
    Propagation,
    backward,
    bundle,
    catching,
    node,
    subgraph,
)
from trace_core.spaces import Float


def same(got: list[Node], expected: list[Node]) -> bool:
    """Identity comparison (``==`` on nodes is a traced op)."""
    return len(got) == len(expected) and all(a is b for a, b in zip(got, expected))


def names(nodes: list[Node]) -> list[str]:
    return [n.name for n in nodes]


def test_micrograd_graph_minimal_subgraph_and_feedback_per_parameter():
    a = Parameter(2.0, name="a")
    b = Parameter(-3.0, name="b")
    c = Parameter(10.0, name="c")
    f = Parameter(-2.0, name="f")
    k = node(5.0, name="k")  # a constant on the way: ancestor of the output, descendant of no parameter
    e = a * b
    d = e + c
    scaled = d * k
    out = scaled * f
    unused = Parameter(1.0, name="unused")
    _side = unused + k  # not an ancestor of the output

    result = backward(out, "make it larger")

    assert out.value == -40.0
    assert set(result) == {a, b, c, f}
    assert unused not in result
    assert same(result[a].nodes, [a, e, d, scaled, out])
    assert same(result[b].nodes, [b, e, d, scaled, out])
    assert same(result[c].nodes, [c, d, scaled, out])
    assert same(result[f].nodes, [f, out])
    for p in (a, b, c, f):
        assert [fb.text for fb in result[p].feedback] == ["make it larger"]
        assert result[p].parameter is p
    union = subgraph(result)
    assert {id(n) for n in union} == {id(n) for n in (a, b, c, f, e, d, scaled, out)}
    assert all(n is not k for n in union)
    position = {id(n): i for i, n in enumerate(union)}
    for n in union:  # topological: every parent inside the union comes before its child
        assert all(position[id(p)] < position[id(n)] for p in n.parents if id(p) in position)


def test_minibatch_backward_gives_each_parameter_the_feedback_of_the_outputs_it_reaches():
    w = Parameter(2.0, name="w", space=Float(-10, 10))
    bias = Parameter(1.0, name="bias")
    x1, x2, x3 = node(1.0, name="x1"), node(2.0, name="x2"), node(3.0, name="x3")
    y1 = w * x1
    y2 = w * x2 + bias
    y3 = x3 + 1  # no parameter at all
    fb1, fb2 = Feedback(score=0.1, text="y1 low"), Feedback(score=0.9, text="y2 fine")

    result = backward([(y1, fb1), (y2, fb2), (y3, "ignored")])

    assert isinstance(result, Propagation)
    assert [f is g for f, g in zip(result[w].feedback, (fb1, fb2))] == [True, True]
    assert result[bias].feedback == [fb2]
    assert [f.text for f in result.feedback] == ["y1 low", "y2 fine", "ignored"]
    assert same(result.outputs, [y1, y2, y3])
    w_nodes = result[w].nodes
    assert {id(n) for n in w_nodes} == {id(w), id(y1), id(y2), id(y2.parents[0])}
    assert w_nodes[0] is w
    assert all(n is not x1 and n is not x2 and n is not y3 for n in w_nodes)
    assert same(result[bias].nodes, [bias, y2])
    assert sorted(result.by_name()) == ["bias", "w"]


def test_repeated_input_x_times_x():
    x = Parameter(3.0, name="x")
    y = x * x
    z = y * x
    assert y.value == 9.0 and z.value == 27.0
    assert len(y.parents) == 2 and y.parents[0] is x and y.parents[1] is x
    result = backward(z, "smaller")
    assert len(result) == 1
    assert len(result[x].feedback) == 1  # one item per output, not one per edge
    assert same(result[x].nodes, [x, y, z])


def test_feedback_is_coerced_from_strings_numbers_and_dicts():
    p = Parameter(1, name="p")
    out = p + 1
    assert backward(out, "too small")[p].feedback[0].text == "too small"
    assert backward(out, 0.25)[p].feedback[0].score == 0.25
    assert backward(out, {"score": 2, "metrics": {"acc": 0.5}})[p].feedback[0].metrics == {"acc": 0.5}
    assert backward(out)[p].feedback == [Feedback()]


def test_backward_of_a_parameter_itself_and_of_a_plain_value():
    p = Parameter("prompt", name="p")
    result = backward(p, "shorter")
    assert same(result[p].nodes, [p])
    assert len(backward(42, "plain values have no parameters")) == 0


def test_exception_output_still_carries_feedback_to_its_parameters():
    p = Parameter(0, name="divisor")

    @bundle(catch=True)
    def divide(x, d):
        return x / d

    out = divide(node(1.0), p)
    result = backward(out, "division failed: choose a non-zero divisor")
    assert same(result[p].nodes, [p, out])
    assert "non-zero" in result[p].feedback[0].text


def test_deep_chain_of_100k_nodes_has_no_recursion_limit():
    assert sys.getrecursionlimit() < 100_000
    x = Parameter(0, name="x")
    one = node(1)
    y = x
    for _ in range(100_000):
        y = y + one
    result = backward(y, "fine")
    nodes = result[x].nodes
    assert len(nodes) == 100_001 and nodes[0] is x and nodes[-1] is y
    assert len(subgraph(result)) == 100_001
    del result, nodes
    y_ref = weakref.ref(y)
    del y  # deallocating a deep chain must not recurse
    gc.collect()
    assert y_ref() is None


def test_subgraph_union_of_a_chain_with_a_parameter_per_step():
    params = [Parameter(float(i), name=f"p{i}") for i in range(30)]
    y = params[0]
    sums = []
    for p in params[1:]:
        y = y + p
        sums.append(y)
    result = backward(y, "ok")
    assert len(result) == 30
    assert same(result[params[0]].nodes, [params[0], *sums])
    assert same(result[params[29]].nodes, [params[29], sums[-1]])
    union = subgraph(result)
    assert {id(n) for n in union} == {id(n) for n in (*params, *sums)}
    pos = {id(n): i for i, n in enumerate(union)}
    assert all(pos[id(a)] < pos[id(b)] for a, b in zip(sums, sums[1:]))


def test_no_global_registry_a_finished_graph_is_freed():
    x = Parameter(1.0, name="x")

    @bundle
    def double(v):
        return 2 * v

    mid = double(x + 1)
    out = mid * 3
    mid_ref = weakref.ref(mid)
    del mid
    gc.collect()
    assert mid_ref() is not None  # held by its child
    result = backward(out, "fine")
    del out, result
    gc.collect()
    assert mid_ref() is None
    assert x.value == 1.0  # the parameter itself lives on


def test_failed_op_graph_is_freed_after_the_error_is_dropped():
    x = node(1.0)
    with catching():
        err = x / 0
    ref = weakref.ref(err)
    del err
    gc.collect()
    assert ref() is None


def test_minibatch_of_many_outputs_keeps_feedback_in_output_order():
    w = Parameter(1.0, name="w")
    privates = [Parameter(0.0, name=f"p{i}") for i in range(130)]
    pairs = [(w * i + p, f"output {i}") for i, p in enumerate(privates)]
    pairs.append((node(5) + 1, "no parameter"))
    result = backward(pairs)
    assert [f.text for f in result[w].feedback] == [f"output {i}" for i in range(130)]
    assert [f.text for f in result[privates[99]].feedback] == ["output 99"]
    assert len(result) == 131


def test_a_sequence_of_outputs_without_pairs_is_a_clear_error():
    p = Parameter(1, name="p")
    y1, y2 = p + 1, p + 2
    with pytest.raises(ConfigError, match="pair each output with its feedback"):
        backward([y1, y2], "shared feedback")
    with pytest.raises(ConfigError, match="pair each output"):
        backward((y1, "a single pair, not in a list"))
    with pytest.raises(ConfigError):
        backward([(y1, "fb")], "extra feedback")
    assert len(backward([(y1, "a"), (y2, "b")])[p].feedback) == 2
