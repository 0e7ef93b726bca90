"""bundle on the callables users reach for: static and class methods, generators,
partials and callable objects, Nodes nested in containers, traceable bundles that
read parameters untraced; and the user-code traceback of an ExceptionNode."""

from __future__ import annotations

import functools

import pytest

from trace_core import ExceptionNode, Module, Parameter, TracedError, backward, bundle, catching, node
from trace_core.spaces import Text


def names(nodes) -> list[str]:
    return [n.name for n in nodes]


class Tools(Module):
    offset = 10

    @bundle
    @staticmethod
    def above_static(x):
        return x + 1

    @staticmethod
    @bundle
    def below_static(x):
        return x + 2

    @bundle
    @classmethod
    def above_class(cls, x):
        return x + cls.offset

    @bundle(trainable=True)
    @classmethod
    def trainable_class(cls, x):
        return x * 2


@pytest.mark.parametrize("name,expected", [("above_static", 2), ("below_static", 3), ("above_class", 11)])
def test_static_and_class_methods_from_the_class_and_an_instance(name, expected):
    for owner in (Tools, Tools()):
        out = getattr(owner, name)(node(1))
        assert out.value == expected and out.parents[0].value == 1


def test_a_trainable_classmethod_has_one_code_parameter_that_modules_collect():
    a, b = Tools(), Tools()
    out = a.trainable_class(node(3))
    assert out.value == 6
    code = Tools.trainable_class.parameter
    assert a.trainable_class.parameter is code is b.trainable_class.parameter
    assert code in out.parents
    assert code in a.parameters()
    code.set("def trainable_class(cls, x):\n    return x * 3\n")
    assert b.trainable_class(node(3)).value == 9


def test_a_generator_runs_inside_the_op_and_its_value_is_the_list_of_items():
    prompt = Parameter("ab", name="letters", space=Text())

    @bundle
    def letters(n):
        for i in range(n):
            yield prompt.value[i]  # a hidden read while the generator runs

    out = letters(node(2))
    assert out.value == ["a", "b"]
    assert prompt in out.parents
    with catching():
        failed = letters(node(5))  # the IndexError is raised inside the op
    assert isinstance(failed, ExceptionNode) and isinstance(failed.value, IndexError)


def test_partials_and_callable_objects_can_be_bundled():
    class Scale:
        def __call__(self, x, k=2):
            return x * k

    scaled = bundle(Scale())
    added = bundle(functools.partial(lambda a, b: a + b, 5))
    assert scaled(node(4)).value == 8 and scaled.name == "Scale"
    assert added(node(1)).value == 6 and added.name == "<lambda>"
    assert "Scale" in repr(scaled)


def test_nodes_nested_in_containers_are_unwrapped_and_become_parents():
    seen = []

    @bundle
    def total(batch, extra=None):
        seen.append((batch, extra))
        return sum(x for row in batch["rows"] for x in row) + sum(extra)

    a, b, c = node(1, name="a"), node(2, name="b"), node(4, name="c")
    plain_rows = [[100]]
    out = total({"rows": [[a, b], (c,)]}, extra=[node(8, name="d")])
    assert out.value == 15
    assert names(out.parents) == ["a", "b", "c", "d"]
    assert seen[0] == ({"rows": [[1, 2], (4,)]}, [8])  # the function saw plain values only
    total({"rows": plain_rows}, extra=[])
    assert seen[1][0]["rows"] is plain_rows  # containers without Nodes are passed as they are


def test_a_parameter_inside_a_nested_container_receives_feedback():
    w = Parameter(3, name="w")

    @bundle
    def first(config):
        return config["layers"][0]["width"] * 2

    out = first({"layers": [{"width": w}]})
    assert out.value == 6
    assert names(backward(out, "too small")[w].nodes) == ["w", "first"]


def test_a_traceable_bundle_returning_a_plain_value_keeps_hidden_parameter_parents():
    class Agent:
        def __init__(self):
            self.prompt = Parameter("Be brief.", name="prompt", space=Text())

        @bundle(traceable=True)
        def ask(self, question):
            return f"{self.prompt} {question}"  # formatting reads the value untraced

    agent = Agent()
    out = agent.ask(node("why?", name="q"))
    assert out.value == "Be brief. why?"
    assert names(out.parents) == ["q", "prompt"]
    assert list(backward(out, "shorter")) == [agent.prompt]


def test_an_exception_node_shows_the_user_frames_of_the_traceback():
    def helper(y):
        return 1 / y

    @bundle
    def divide(x):
        return helper(x)

    with pytest.raises(TracedError) as info:
        divide(node(0))
    description = info.value.exception_node.description
    assert description.startswith("ZeroDivisionError: division by zero")
    assert "in divide" in description and "in helper" in description
    assert "trace_core/bundle.py" not in description  # tracetune's own frames are left out
