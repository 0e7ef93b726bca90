"""bundle: one traced op per call, hidden-parameter parents, nesting, traceable,
exceptions, async functions and functions without source."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from trace_core import (
    BundledFunction,
    ExceptionNode,
    Module,
    Node,
    Parameter,
    TracedError,
    backward,
    bundle,
    catching,
    node,
    using,
)
from trace_core.spaces import Float, Text


def ids(nodes) -> set[int]:
    return {id(n) for n in nodes}


def test_bundle_records_one_op_with_node_inputs_as_parents():
    @bundle
    def combine(a, b, *rest, scale=1, **extra):
        """Sums everything, scaled."""
        return (a + b + sum(rest) + sum(extra.values())) * scale

    a, b, c, s, e = node(1, name="a"), node(2, name="b"), node(3, name="c"), node(10, name="s"), node(4, name="e")
    out = combine(a, b, c, 100, scale=s, e=e)
    assert isinstance(combine, BundledFunction)
    assert out.value == (1 + 2 + 3 + 100 + 4) * 10
    assert out.op is combine and out.name == "combine"
    assert [p.name for p in out.parents] == ["a", "b", "c", "s", "e"]  # plain values are not parents
    assert combine.description == "Sums everything, scaled."
    assert combine(1, 2).value == 3 and combine(1, 2).parents == ()


def test_nodes_inside_lists_and_dicts_are_unwrapped_and_become_parents():
    @bundle
    def total(items, weights):
        return sum(i * weights[k] for k, i in enumerate(items))

    x, y, w = node(1), node(2), node(10)
    out = total([x, y], {0: w, 1: 1})
    assert out.value == 12
    assert ids(out.parents) == ids([x, y, w])


def test_description_argument_overrides_the_docstring_and_callable_kinds_work():
    @bundle(description="Parses an integer.")
    def parse(text):
        return int(text)

    assert parse.description == "Parses an integer." and parse(node("7")).value == 7
    twice = bundle(lambda v: v * 2)
    assert twice(node(4)).value == 8 and "lambda" in twice.source
    namespace: dict = {}
    exec("def triple(v):\n    return v * 3\n", namespace)  # no readable source
    triple = bundle(namespace["triple"])
    assert triple(node(2)).value == 6 and "unavailable" in triple.source


def test_signature_and_source_are_read_once_per_function_not_per_call(monkeypatch):
    @bundle
    def inc(x):
        return x + 1

    calls = []
    for name in ("signature", "getsource"):
        original = getattr(inspect, name)
        monkeypatch.setattr(inspect, name, lambda *a, _o=original, _n=name, **k: calls.append(_n) or _o(*a, **k))
    for i in range(20):
        inc(node(i))
    assert calls == []


class Agent:
    def __init__(self, prompt: str):
        self.prompt = Parameter(prompt, name="prompt", space=Text())
        self.unused = Parameter(0.5, name="unused", space=Float(0, 1))

    @bundle
    def answer(self, question):
        """Answers with the instruction in front."""
        return f"{self.prompt} {question}"


def test_a_bundled_method_reading_self_parameter_has_it_as_parent():
    agent = Agent("Be brief.")
    q = node("why?", name="q")
    out = agent.answer(q)
    assert out.value == "Be brief. why?"
    assert ids(out.parents) == ids([q, agent.prompt])
    result = backward(out, "too terse")
    assert list(result) == [agent.prompt]
    assert [n.name for n in result[agent.prompt].nodes] == ["prompt", "answer"]
    with using({"prompt": "Be kind."}):
        assert agent.answer(q).value == "Be kind. why?"


def test_a_closure_parameter_is_a_parent_only_when_read():
    temperature = Parameter(0.5, name="temperature", space=Float(0, 1))
    unread = Parameter(1.0, name="unread")

    @bundle
    def scale(x, use):
        if use:
            return x * temperature.value
        return x

    x = node(4.0)
    used = scale(x, True)
    assert used.value == 2.0 and ids(used.parents) == ids([x, temperature])
    skipped = scale(node(4.0), False)
    assert all(p is not temperature and p is not unread for p in skipped.parents)


def test_a_parameter_read_through_node_operators_inside_a_bundle_is_a_parent():
    w = Parameter(3, name="w")

    @bundle
    def affine(x):
        return w * x + 1  # runs untraced: plain result, but w was read

    out = affine(node(2))
    assert out.value == 7 and type(out.value) is int
    assert any(p is w for p in out.parents)


def test_nested_bundles_run_as_one_op_and_pass_hidden_reads_outward():
    p = Parameter(10, name="p")

    @bundle
    def inner(x):
        return x + p.value

    @bundle
    def outer(x):
        return inner(x) * 2

    x = node(1, name="x")
    out = outer(x)
    assert out.value == 22 and out.op is outer
    assert ids(out.parents) == ids([x, p])


def test_traceable_bundle_records_the_inner_ops():
    @bundle
    def inner(x):
        return x + 1

    @bundle(traceable=True)
    def outer(x):
        return inner(x) * 2

    @bundle(traceable=True)
    def plain_result(x):
        return 5

    x = node(1, name="x")
    out = outer(x)
    assert out.value == 4 and out.op.name == "mul"
    step = out.parents[0]
    assert step.op is inner and step.parents[0] is x
    wrapped = plain_result(x)
    assert wrapped.value == 5 and wrapped.op is plain_result and wrapped.parents[0] is x


def test_bundle_exception_carries_type_message_and_user_traceback():
    @bundle
    def parse(text):
        return int(text)

    bad = node("twelve", name="bad")
    with pytest.raises(TracedError) as info:
        parse(bad)
    enode = info.value.exception_node
    assert isinstance(enode, ExceptionNode) and isinstance(enode.value, ValueError)
    assert enode.description.startswith("ValueError: invalid literal")
    assert "return int(text)" in enode.description
    assert enode.op is parse and enode.parents[0] is bad
    with catching():
        assert isinstance(parse(bad), ExceptionNode)


def test_bundle_catch_returns_the_exception_node_with_hidden_parents():
    limit = Parameter(0, name="limit")

    @bundle(catch=True)
    def check(x):
        if x > limit.value:
            raise RuntimeError(f"{x} exceeds the limit")
        return x

    out = check(node(3))
    assert isinstance(out, ExceptionNode) and "exceeds the limit" in out.description
    assert any(p is limit for p in out.parents)
    assert backward(out, "raise the limit")[limit].feedback[0].text == "raise the limit"


def test_traceable_bundle_with_catch_returns_the_inner_exception_node():
    @bundle(traceable=True, catch=True)
    def risky(x):
        return x / 0

    out = risky(node(1))
    assert isinstance(out, ExceptionNode) and isinstance(out.value, ZeroDivisionError)


def test_timeout_keeps_the_context_of_the_caller():
    p = Parameter("live", name="mode")

    @bundle(timeout=5)
    def read_mode(x):
        return f"{p}:{x}"

    with using({"mode": "candidate"}):
        out = read_mode(node(1))
    assert out.value == "candidate:1"
    assert any(q is p for q in out.parents)


def test_timeout_raises_without_waiting_for_the_function():
    import threading

    release, finished = threading.Event(), threading.Event()

    @bundle(timeout=0.2)
    def stuck():
        release.wait(5)
        finished.set()
        return 1

    with pytest.raises(TracedError) as info:
        stuck()
    assert not finished.is_set()  # the caller did not wait for the abandoned call
    release.set()
    assert isinstance(info.value.exception_node.value, TimeoutError)
    assert "time limit" in str(info.value)


def test_async_bundles_trace_and_read_hidden_parameters():
    style = Parameter("short", name="style")

    @bundle
    async def reply(question):
        """Replies asynchronously."""
        await asyncio.sleep(0)
        return f"{style.value}: {question}"

    @bundle(catch=True)
    async def broken(question):
        await asyncio.sleep(0)
        raise KeyError(question)

    @bundle(timeout=0.05)
    async def slow():
        await asyncio.sleep(5)

    async def main():
        q = node("hi", name="q")
        a, b = await asyncio.gather(reply(q), reply("there"))
        return q, a, b, await broken(q)

    q, a, b, err = asyncio.run(main())
    assert a.value == "short: hi" and a.op is reply and ids(a.parents) == ids([q, style])
    assert b.value == "short: there" and ids(b.parents) == ids([style])
    assert isinstance(err, ExceptionNode) and isinstance(err.value, KeyError)
    with pytest.raises(TracedError, match="time limit"):
        asyncio.run(slow())


class Chat(Module):
    def __init__(self):
        self.system = Parameter("You are terse.", name="system", space=Text())

    @bundle
    def respond(self, text):
        return self.system.value + " " + text


def test_bound_bundle_keeps_op_interface():
    chat = Chat()
    out = chat.respond("hello")
    assert out.op.name == "respond" and out.value == "You are terse. hello"
    assert chat.respond.name == "respond" and Chat.respond.name == "respond"
    assert isinstance(Chat.respond, BundledFunction)
    assert isinstance(out, Node) and any(p is chat.system for p in out.parents)
