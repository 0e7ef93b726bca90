"""Tracing state lives in contextvars: threads and asyncio tasks each trace their own
graph, and no_trace / catching / using in one do not leak into another."""

from __future__ import annotations

import asyncio
import threading

from trace_core import ExceptionNode, Node, Parameter, backward, bundle, catching, no_trace, node, using


def run_in_threads(*targets):
    errors: list[BaseException] = []

    def guard(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported by the test
                errors.append(e)
        return run

    threads = [threading.Thread(target=guard(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    if errors:
        raise errors[0]


def test_no_trace_in_one_thread_does_not_affect_another():
    barrier = threading.Barrier(2, timeout=5)
    x = node(2, name="x")
    seen = {}

    def untraced():
        with no_trace():
            barrier.wait()  # both threads are inside their contexts now
            seen["untraced"] = x * 3
            barrier.wait()

    def traced():
        barrier.wait()
        seen["traced"] = x * 3
        barrier.wait()

    run_in_threads(untraced, traced)
    assert seen["untraced"] == 6 and type(seen["untraced"]) is int
    assert isinstance(seen["traced"], Node) and seen["traced"].parents[0] is x


def test_catching_is_per_thread():
    barrier = threading.Barrier(2, timeout=5)
    seen = {}

    def catches():
        with catching():
            barrier.wait()
            seen["caught"] = node(1) / 0
            barrier.wait()

    def raises():
        barrier.wait()
        try:
            node(1) / 0
        except Exception as e:  # noqa: BLE001
            seen["raised"] = type(e).__name__
        barrier.wait()

    run_in_threads(catches, raises)
    assert isinstance(seen["caught"], ExceptionNode)
    assert seen["raised"] == "TracedError"


def test_using_overrides_are_per_thread():
    p = Parameter("live", name="p")
    barrier = threading.Barrier(3, timeout=5)
    seen = {}

    @bundle
    def read(tag):
        return f"{tag}:{p.value}"

    def candidate(value):
        def run():
            with using({"p": value}):
                barrier.wait()
                seen[value] = read(value)
                barrier.wait()
        return run

    def live():
        barrier.wait()
        seen["live"] = read("live")
        barrier.wait()

    run_in_threads(candidate("a"), candidate("b"), live)
    assert seen["a"].value == "a:a" and seen["b"].value == "b:b" and seen["live"].value == "live:live"
    assert all(any(q is p for q in seen[k].parents) for k in ("a", "b", "live"))
    assert p.value == "live"


def test_threads_trace_their_own_graphs():
    w = Parameter(1.0, name="w")
    outputs = {}

    def work(i):
        def run():
            y = w * i
            for _ in range(200):
                y = y + 1
            outputs[i] = y
        return run

    run_in_threads(*(work(i) for i in range(4)))
    for i, y in outputs.items():
        assert y.value == i + 200
        nodes = backward(y, "ok")[w].nodes
        assert len(nodes) == 202 and nodes[0] is w and nodes[-1] is y


def test_asyncio_tasks_each_see_their_own_state():
    x = node(5, name="x")
    p = Parameter(1, name="p")

    @bundle
    async def scaled(v):
        await asyncio.sleep(0.01)
        return v * p.value

    async def untraced(started: asyncio.Event, done: asyncio.Event):
        with no_trace(), using({"p": 100}):
            started.set()
            await done.wait()
            return await scaled(x), x + 1

    async def traced(started: asyncio.Event, done: asyncio.Event):
        await started.wait()
        out = await scaled(x), x + 1
        done.set()
        return out

    async def main():
        started, done = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(untraced(started, done), traced(started, done))

    (plain_scaled, plain_add), (node_scaled, node_add) = asyncio.run(main())
    assert plain_scaled == 500 and plain_add == 6
    assert isinstance(node_scaled, Node) and node_scaled.value == 5
    assert [q.name for q in node_scaled.parents] == ["x", "p"]
    assert isinstance(node_add, Node) and node_add.value == 6
