"""The public helpers of backward, tested directly: topological, subgraph, Propagation
and Propagated, and which feedback reaches which parameter in a minibatch."""

from __future__ import annotations

import pytest

import trace_core.ops  # noqa: F401  (operators on nodes)
from trace_core import ConfigError, Feedback
from trace_core.backward import Propagated, Propagation, backward, subgraph, topological
from trace_core.node import Node, Parameter, node


def _diamond():
    """a -> (b, c) -> d, plus an unrelated leaf e feeding f = d + e."""
    a = Node(1, name="a")
    b = Node(2, name="b", parents=(a,))
    c = Node(3, name="c", parents=(a,))
    d = Node(5, name="d", parents=(b, c))
    e = Node(7, name="e")
    f = Node(12, name="f", parents=(d, e))
    return a, b, c, d, e, f


def test_topological_is_a_list_of_every_node_once_parents_first_in_parent_order():
    a, b, c, d, e, f = _diamond()
    order = topological([f])
    assert type(order) is list
    assert [n.name for n in order] == ["a", "b", "c", "d", "e", "f"]


def test_topological_of_several_outputs_shares_their_common_nodes():
    a, b, c, d, e, f = _diamond()
    order = topological([b, b, f, d])  # an output already sorted is skipped, the next ones are not
    assert [n.name for n in order] == ["a", "b", "c", "d", "e", "f"]
    assert topological([a]) == [a]
    assert topological([]) == []
    assert topological(iter([b])) == [a, b]  # any iterable of outputs


def test_topological_keeps_a_node_used_twice_by_one_op_once():
    x = Node(3, name="x")
    y = Node(9, name="y", parents=(x, x))
    assert topological([y]) == [x, y]


def test_each_parameter_gets_only_the_feedback_of_the_outputs_it_reaches_in_output_order():
    p = Parameter(1, name="p")
    q = Parameter(2, name="q")
    r = Parameter(3, name="r")
    only_p = Node(0, name="only_p", parents=(p,))
    both = Node(0, name="both", parents=(p, q))
    only_q = Node(0, name="only_q", parents=(q,))
    result = backward([(only_p, "first"), (both, "second"), (only_q, "third"), (node(0), "fourth")])
    assert [f.text for f in result[p].feedback] == ["first", "second"]
    assert [f.text for f in result[q].feedback] == ["second", "third"]
    assert r not in result
    assert len(result) == 2 and set(result) == {p, q}
    assert result[p].nodes == [p, only_p, both]
    assert result[q].nodes == [q, both, only_q]
    assert [n.name for n in subgraph(result)] == ["p", "only_p", "q", "both", "only_q"]


def test_two_outputs_each_reached_by_one_parameter():
    p, q = Parameter(1, name="p"), Parameter(2, name="q")
    yp, yq = Node(0, name="yp", parents=(p,)), Node(0, name="yq", parents=(q,))
    result = backward([(yp, "for p"), (yq, "for q")])
    assert [f.text for f in result[p].feedback] == ["for p"]
    assert [f.text for f in result[q].feedback] == ["for q"]


def test_one_output_given_twice_brings_both_feedbacks():
    p = Parameter(1, name="p")
    y = Node(0, name="y", parents=(p,))
    result = backward([(y, "first"), (y, "second")])
    assert [f.text for f in result[p].feedback] == ["first", "second"]


def test_a_parameter_feeding_many_outputs_of_a_large_minibatch_gets_each_once():
    p = Parameter(1, name="p")
    outs = [Node(i, name=f"o{i}", parents=(p,)) for i in range(70)]  # past 64 outputs
    result = backward([(o, f"f{i}") for i, o in enumerate(outs)])
    assert [f.text for f in result[p].feedback] == [f"f{i}" for i in range(70)]


def test_propagation_is_a_mapping_with_the_outputs_and_their_feedback():
    p = Parameter(2, name="p")
    y = p * node(3)
    result = backward(y, Feedback(score=0.5, text="low"))
    assert isinstance(result, Propagation)
    assert result.outputs == [y]
    assert [f.score for f in result.feedback] == [0.5]
    assert list(result) == [p] and result[p].parameter is p
    assert result.by_name() == {"p": result[p]}
    assert result.get(Parameter(0, name="p")) is None  # keyed by identity, not by name
    with pytest.raises(KeyError):
        result[Parameter(0, name="other")]


def test_single_output_records_hold_their_own_copy_of_the_feedback():
    p, q = Parameter(1, name="p"), Parameter(2, name="q")
    result = backward(p + q, "fb")
    result[p].feedback.append(Feedback(text="extra"))
    assert [f.text for f in result[q].feedback] == ["fb"]
    assert [f.text for f in result.feedback] == ["fb"]


def test_propagated_nodes_are_computed_once_and_repr_names_the_parameter():
    p = Parameter(1, name="p")
    y = p + node(1)
    rec = backward(y, "fb")[p]
    assert isinstance(rec, Propagated)
    assert rec.nodes is rec.nodes
    assert rec.nodes == [p, y]
    assert repr(rec) == "Propagated(p, 1 feedback)"


def test_subgraph_leaves_out_nodes_no_parameter_reaches():
    p = Parameter(1, name="p")
    c = node(5, name="c")
    y = (p + node(1)) * c
    result = backward(y, "fb")
    names = [n.name for n in subgraph(result)]
    assert "c" not in names and names[0] == "p" and names[-1] == y.name
    assert subgraph(backward(node(1) + node(2), "fb")) == []


def test_backward_of_a_plain_value_wraps_it_as_an_output_node():
    result = backward(42, "fine")
    assert len(result) == 0
    assert result.outputs[0].value == 42 and result.outputs[0].name == "output"


@pytest.mark.parametrize("bad", [[node(1), node(2)], (node(1),), [(node(1), "a"), node(2)]])
def test_outputs_without_feedback_pairs_are_refused(bad):
    with pytest.raises(ConfigError, match="pair each output with its feedback"):
        backward(bad)


def test_a_list_value_with_feedback_is_refused_with_the_feedback_mentioned():
    with pytest.raises(ConfigError, match="of outputs and a feedback"):
        backward([node(1)], "fb")
    with pytest.raises(ConfigError) as info:
        backward([node(1)])
    assert str(info.value) == (
        "backward takes backward(output, feedback) or backward([(output, feedback), ...]); "
        "got a list of outputs: pair each output with its feedback")
