"""bundle(trainable=True): the function's source is a Code parameter that an
optimizer may rewrite; new source is checked, compiled once per value, may run in a
sandbox, and is per instance for methods."""

from __future__ import annotations

import pytest

from trace_core import (
    BundledFunction,
    ConfigError,
    InvalidProposal,
    Module,
    TracedError,
    backward,
    bundle,
    no_trace,
    node,
    using,
)

OFFSET = 100


def make_policy() -> BundledFunction:
    @bundle(trainable=True)
    def policy(x):
        """Scores x."""
        return x * 2

    return policy


def test_source_is_a_code_parameter_and_a_parent_of_every_output():
    policy = make_policy()
    code = policy.parameter
    assert code is policy.parameter and code.trainable
    assert code.value.startswith("def policy(x):") and "@bundle" not in code.value
    assert code.space.describe() == "Python code: keep the signature def policy(x)"
    x = node(3, name="x")
    out = policy(x)
    assert out.value == 6 and out.op is policy
    assert out.parents[0] is x and out.parents[1] is code
    result = backward(out, "should be 9")
    assert list(result) == [code]
    assert [n.name for n in result[code].nodes] == [code.name, "policy"]


def test_valid_new_source_changes_behaviour_and_the_op_source():
    policy = make_policy()
    new = "def policy(x):\n    return x * 3\n"
    policy.parameter.set(new)
    assert policy(node(3)).value == 9
    assert policy.source == new
    with no_trace():
        assert policy(4) == 12


@pytest.mark.parametrize(
    "source,message",
    [
        ("def policy(x):\n    return x *\n", "does not parse"),
        ("def other(x):\n    return x\n", "named 'policy'"),
        ("def policy(x, y):\n    return x\n", "signature"),
        (42, "string"),
        ("async def policy(x):\n    return x\n", "must stay a def"),
    ],
    ids=["syntax", "renamed", "signature", "not-a-string", "became-async"],
)
def test_invalid_new_source_raises_and_keeps_the_old_one(source, message):
    policy = make_policy()
    old = policy.parameter.value
    with pytest.raises(InvalidProposal, match=message):
        policy.parameter.set(source)
    assert policy.parameter.value == old
    assert policy(node(3)).value == 6


def test_checking_a_proposal_never_runs_it_and_a_definition_failure_is_invalid_when_called(tmp_path):
    policy = make_policy()
    marker = tmp_path / "ran"
    write = f"try:\n    open({str(marker)!r}, 'w').write('x')\nexcept OSError:\n    pass\n"
    source = write + "@UNDEFINED_NAME\ndef policy(x):\n    return x\n"
    policy.parameter.set(source)  # parses, same signature: accepted, and nothing of it ran
    assert not marker.exists()
    with pytest.raises(TracedError) as info:
        policy(node(1))
    error = info.value.exception_node.value
    assert isinstance(error, InvalidProposal) and error.verdict == "invalid"
    assert "UNDEFINED_NAME" in str(error)
    assert not marker.exists()  # the module-level statement ran in the child, whose files are its own


@pytest.mark.parametrize("statement", ["raise SystemExit(0)", "while True:\n    pass"])
def test_module_level_statements_of_a_proposal_do_not_run_when_it_is_set(statement):
    policy = make_policy()
    policy.parameter.set(f"{statement}\ndef policy(x):\n    return x\n")  # returns at once
    assert policy.parameter.value.startswith(statement[:5])


def test_source_that_fails_when_defined_under_using_is_an_invalid_proposal():
    policy = make_policy()
    with using({policy.parameter.name: "@UNDEFINED_NAME\ndef policy(x):\n    return x\n"}):
        with pytest.raises(TracedError) as info:
            policy(node(1))
    assert isinstance(info.value.exception_node.value, InvalidProposal)
    assert "UNDEFINED_NAME" in str(info.value)


def test_new_source_sees_module_globals_and_closure_variables():
    factor = 5

    @bundle(trainable=True)
    def shift(x):
        return x + factor

    shift.parameter.set("def shift(x):\n    return x + factor + OFFSET\n")
    assert shift(node(1)).value == 1 + 5 + OFFSET


def test_without_the_sandbox_each_value_is_compiled_once_at_its_first_call(monkeypatch):
    @bundle(trainable=True, sandbox=False)
    def policy(x):
        return x * 2

    compiled: list[str] = []
    original = BundledFunction._compile
    monkeypatch.setattr(BundledFunction, "_compile", lambda self, src: compiled.append(src) or original(self, src))
    first = policy.parameter.value
    second = "def policy(x):\n    return x - 1\n"
    for _ in range(5):
        policy(node(1))
    assert compiled == []  # the original source maps to the original function
    policy.parameter.set(second)
    for _ in range(5):
        assert policy(node(1)).value == 0
    policy.parameter.set(first)
    assert policy(node(1)).value == 2
    with using({policy.parameter.name: second}):
        assert policy(node(10)).value == 9
    assert compiled == [second]


def test_using_evaluates_a_candidate_source_without_assigning_it():
    policy = make_policy()
    candidate = "def policy(x):\n    return -x\n"
    with using({policy.parameter.name: candidate}):
        assert policy(node(2)).value == -2
    assert policy(node(2)).value == 4
    with using({policy.parameter.name: "def policy(x):\n  return (\n"}):  # invalid candidate: feedback
        with pytest.raises(TracedError) as info:
            policy(node(2))
    assert isinstance(info.value.exception_node.value, InvalidProposal)


def test_sandbox_runs_new_code_in_a_subprocess_with_a_time_limit():
    @bundle(trainable=True, sandbox=True, timeout=1)
    def work(n):
        return sum(range(n))

    assert work(node(10)).value == 45
    work.parameter.set("def work(n):\n    raise ValueError('bad input ' + str(n))\n")
    with pytest.raises(TracedError, match="bad input 3"):
        work(node(3))
    work.parameter.set("def work(n):\n    while True:\n        pass\n")
    with pytest.raises(TracedError) as info:
        work(node(3))
    assert isinstance(info.value.exception_node.value, TimeoutError)
    assert "time limit" in str(info.value)


def test_functions_without_source_cannot_be_trainable():
    namespace: dict = {}
    exec("def f(x):\n    return x\n", namespace)
    with pytest.raises(ConfigError, match="readable source"):
        bundle(namespace["f"], trainable=True)
    with pytest.raises(ConfigError):
        bundle(lambda x: x, trainable=True)


def test_non_trainable_bundle_has_no_parameter():
    @bundle
    def f(x):
        return x

    with pytest.raises(AttributeError, match="not trainable"):
        f.parameter


class Solver(Module):
    def __init__(self, bias: int):
        self.bias = bias

    @bundle(trainable=True)
    def solve(self, x):
        """Adds the bias."""
        return x + self.bias


def test_trainable_methods_have_one_parameter_per_instance():
    first, second = Solver(1), Solver(2)
    p1, p2 = first.solve.parameter, second.solve.parameter
    assert p1 is not p2 and p1 is first.solve.parameter
    assert p1.name == "Solver.solve" and p1.value.startswith("def solve(self, x):")
    p1.set("def solve(self, x):\n    return x + self.bias * 100\n")
    out = first.solve(node(5))
    assert out.value == 105 and second.solve(node(5)).value == 7
    assert any(p is p1 for p in out.parents) and all(p is not p2 for p in out.parents)
    assert first.parameters() == [p1]
    with pytest.raises(InvalidProposal, match="signature"):
        p2.set("def solve(x):\n    return x\n")


def test_a_trainable_async_function_must_stay_async():
    @bundle(trainable=True)
    async def fetch(x):
        return x + 1

    with pytest.raises(InvalidProposal, match="must stay an async def"):
        fetch.parameter.set("def fetch(x):\n    return x\n")
    fetch.parameter.set("async def fetch(x):\n    return x + 2\n")
    import asyncio

    assert asyncio.run(fetch(node(1))).value == 3


@pytest.mark.parametrize(
    "source",
    [
        "def policy(x):\n    return " + "+".join(["1"] * 200_000),
        "def policy(x):\n    return '\udc80'",
        "def policy(x):\n    return 1\x00",
        "def policy(x):\n    return " + "(" * 300 + "1" + ")" * 300,
        "def policy(x):\n    return " + "not " * 100_000 + "1",
        "return 1\ndef policy(x):\n    return x\n",
        "def policy(x):\n    nonlocal y\n",
    ],
    ids=["200k-terms", "lone-surrogate", "null-byte", "deep-parens", "deep-unary", "return-outside", "nonlocal"],
)
def test_every_malformed_source_is_an_invalid_proposal(source):
    policy = make_policy()
    with pytest.raises(InvalidProposal) as info:
        policy.parameter.set(source)
    str(info.value).encode("utf-8")  # the message is printable text, fit for an LLM and a log
    assert policy(node(3)).value == 6
