"""Choosing the sandbox's isolation level, and what a sandboxed call sends back."""

from __future__ import annotations

import logging

import pytest

from trace_core import ConfigError, InvalidProposal, TracedError, bundle, no_trace, node
from trace_core import _sandbox
from trace_core._sandbox import Sandbox, SandboxError, SandboxUnavailable, best_isolation


@pytest.fixture
def no_namespaces(monkeypatch):
    monkeypatch.setattr(_sandbox, "_bwrap_works", lambda: False)


def test_strict_refuses_to_run_without_namespaces(no_namespaces):
    with pytest.raises(SandboxUnavailable, match="install bubblewrap") as info:
        Sandbox(strict=True)
    assert info.value.verdict == "unavailable" and isinstance(info.value, ConfigError)
    with pytest.raises(SandboxUnavailable):
        Sandbox("namespaces")

    @bundle(trainable=True, sandbox="strict")
    def f(x):
        return x

    with pytest.raises(SandboxUnavailable):  # a configuration error, not an op failure
        f(node(1))


def test_the_default_takes_the_best_level_and_logs_it(no_namespaces, caplog):
    with caplog.at_level(logging.INFO, logger="trace_core._sandbox"):
        assert Sandbox().isolation == "process"
    assert "sandbox isolation: process" in caplog.text


def test_the_level_is_readable_on_the_bundle_and_its_code_parameter():
    @bundle(trainable=True)
    def f(x):
        return x

    @bundle(trainable=True, sandbox=False)
    def g(x):
        return x

    assert f.isolation == best_isolation() and f.parameter.space.isolation == f.isolation
    assert g.isolation is None and g.parameter.space.isolation is None
    with pytest.raises(ConfigError, match="isolation must be one of"):
        Sandbox("containers")
    with pytest.raises(ConfigError, match="sandbox must be"):
        bundle(lambda x: x, sandbox="yes")


def test_the_function_as_written_runs_here_and_a_proposal_in_the_sandbox():
    calls = []

    @bundle(trainable=True)
    def f(x):
        calls.append(x)  # only visible when run in this process
        return x + 1

    assert f(node(1)).value == 2 and calls == [1]
    f.parameter.set("def f(x):\n    calls.append(x)\n    return x + len(calls)\n")
    assert f(node(1)).value == 3 and calls == [1]  # the child appended to its copy of `calls`


def test_a_result_that_is_not_json_data_is_a_clear_error():
    @bundle(trainable=True)
    def f(x):
        return x

    f.parameter.set("def f(x):\n    return {1, 2}\n")
    with no_trace(), pytest.raises(SandboxError, match="not JSON data") as info:
        f(1)
    assert info.value.verdict == "failed"


def test_arguments_that_cannot_be_sent_are_a_clear_error():
    import threading

    @bundle(trainable=True)
    def f(x):
        return 1

    f.parameter.set("def f(x):\n    return 2\n")
    with pytest.raises(TracedError, match="cannot be sent to the sandbox"):
        f(node(threading.Lock()))


def test_an_invalid_definition_is_an_invalid_proposal_with_feedback():
    @bundle(trainable=True, catch=True)
    def f(x):
        return x

    f.parameter.set("import not_a_module_anywhere\ndef f(x):\n    return x\n")
    out = f(node(1))
    assert isinstance(out.value, InvalidProposal) and out.value.verdict == "invalid"
    assert "No module named 'not_a_module_anywhere'" in str(out.value)
    assert f.parameter in out.parents  # the feedback reaches the code
