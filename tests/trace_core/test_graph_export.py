"""Export of a traced graph to networkx, DOT and JSON."""

from __future__ import annotations

import json

import networkx as nx

from trace_core import Parameter, bundle, catching, node
from trace_core.graph import to_dot, to_json, to_networkx


def sample():
    x = Parameter(3.0, name="x")
    k = node(2.0, name="k")
    sq = x * x
    out = sq + k
    return x, k, sq, out


def test_networkx_has_one_vertex_per_node_and_counted_edges():
    x, k, sq, out = sample()
    g = to_networkx(out)
    assert g.number_of_nodes() == 4 and g.number_of_edges() == 3
    by_name = {data["name"]: vid for vid, data in g.nodes(data=True)}
    assert set(by_name) == {"x", "k", "mul", "add"}
    assert g.nodes[by_name["x"]]["kind"] == "parameter"
    assert g.nodes[by_name["k"]]["kind"] == "input"
    assert g.nodes[by_name["mul"]]["kind"] == "op" and g.nodes[by_name["mul"]]["op"] == "mul"
    assert g.nodes[by_name["add"]]["value"] == "11.0"
    assert g.edges[by_name["x"], by_name["mul"]]["count"] == 2  # x * x
    assert list(nx.topological_sort(g))[-1] == by_name["add"]
    assert sorted(g.nodes) == sorted(f"n{i}" for i in range(4))


def test_several_outputs_and_exception_nodes():
    x = Parameter(1.0, name="x")

    @bundle(catch=True)
    def fails(v):
        raise ValueError("no")

    a = x + 1
    err = fails(x)
    g = to_networkx([a, err])
    kinds = sorted(data["kind"] for _, data in g.nodes(data=True))
    assert kinds == ["exception", "input", "op", "parameter"]
    with catching():
        assert to_networkx(x / 0).number_of_nodes() == 3


def test_long_values_are_cut():
    out = node("y" * 500) + "z"
    data = dict(to_networkx(out, value_chars=20).nodes(data=True))
    assert all(len(d["value"]) <= 20 for d in data.values())


def test_json_is_node_link_data_that_rebuilds_the_graph():
    *_, out = sample()
    data = json.loads(to_json(out))
    assert len(data["nodes"]) == 4 and len(data["edges"]) == 3
    rebuilt = nx.node_link_graph(data, edges="edges")
    assert nx.is_isomorphic(rebuilt, to_networkx(out))


def test_dot_lists_every_node_and_edge_with_escaped_labels():
    x = Parameter('say "hi"\\', name="x")
    out = x + "\nbye"
    dot = to_dot(out)
    lines = dot.splitlines()
    assert lines[0] == "digraph trace {" and lines[-1] == "}"
    assert sum("->" in line for line in lines) == 2
    assert sum("[label=" in line for line in lines) == 3
    assert r'label="x\nsay \"hi\"\\"' in dot and "shape=box" in dot
    assert r"\nbye" in dot
    for line in lines:  # no raw quote closes a label early
        if "[label=" in line:
            label = line.split('label="', 1)[1].rsplit('", shape=', 1)[0]
            assert '"' not in label.replace('\\"', "")


def test_graph_is_reachable_as_an_attribute_of_the_package():
    import trace_core

    assert trace_core.graph.to_dot is to_dot
