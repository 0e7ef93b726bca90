"""Nodes inside the arguments of bundles and method calls: found, unwrapped and made
parents; containers without nodes are passed through untouched."""

from __future__ import annotations

from trace_core import Parameter, backward, bundle, node


@bundle
def echo(*args, **kwargs):
    return args, kwargs


def test_a_parameter_at_the_end_of_a_long_plain_list_is_found_and_unwrapped():
    p = Parameter(7, name="p")
    out = echo([0] * 10_000 + [p])
    assert out.value[0][0][-1] == 7
    assert p in out.parents
    assert list(backward(out, "fb")) == [p]


def test_a_container_without_nodes_is_passed_as_the_same_object():
    plain, mapping = list(range(1000)), {"a": (1, 2)}
    out = echo(plain, m=mapping)
    assert out.value[0][0] is plain and out.value[1]["m"] is mapping
    seen = []
    node(seen.append)(plain)
    assert seen[0] is plain


def test_a_method_call_unwraps_nodes_deep_in_keyword_arguments_and_records_them():
    a, b = node("x", name="a"), Parameter("y", name="b")
    out = node(lambda **kw: kw).__call__(opts={"deep": [(1, a)], "flat": [b] + ["z"] * 500})
    assert out.value == {"opts": {"deep": [(1, "x")], "flat": ["y"] + ["z"] * 500}}
    assert a in out.parents and b in out.parents
    assert list(backward(out, "fb")) == [b]


def test_the_same_node_at_the_top_and_inside_a_container_is_unwrapped_in_both_places():
    a = node(3, name="a")
    out = echo(a, [a])
    assert out.value == ((3, [3]), {})


def test_nodes_used_as_dict_keys_are_unwrapped_and_become_parents():
    key = Parameter("k", name="key")
    out = echo({key: 1})
    assert out.value == (({"k": 1},), {})
    assert list(backward(out, "fb")) == [key]
    called = node(lambda d: d).__call__({key: node(2)})
    assert called.value == {"k": 2} and key in called.parents


def test_a_node_key_whose_value_cannot_be_a_key_stays_a_node():
    key = node([1, 2], name="unhashable")
    out = echo({key: 1})
    assert out.value[0][0] == {key: 1} and key in out.parents


def test_the_prompt_names_a_node_used_as_a_dict_key():
    from optimizers.optoprime.view import LEVELS, GraphView

    p = Parameter("be brief", name="p")
    out = echo(p, opts={node("tone", name="key"): node("dry", name="val")})
    code = GraphView([p], backward(out, "fb")).sections(LEVELS[0])["code"]
    assert 'opts={key: val}' in code and "Node(" not in code
