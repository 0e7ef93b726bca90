"""The runnable examples in the docstrings of every trace_core module stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import trace_core

CORE = ["trace_core", "trace_core.node", "trace_core.spaces", "trace_core.bundle", "trace_core.backward",
        "trace_core.module", "trace_core.budget", "trace_core.feedback"]
# every module of the package, the LLM layer and the test helpers included (pytest_plugin only defines a fixture)
MODULES = sorted({"trace_core", *(m.name for m in pkgutil.walk_packages(trace_core.__path__, "trace_core."))}
                 - {"trace_core.testing.pytest_plugin"})


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if name in CORE:
        assert result.attempted > 0, f"{name} has no example"
