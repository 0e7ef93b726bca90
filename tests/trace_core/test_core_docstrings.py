"""The runnable examples in the core modules' docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["trace_core", "trace_core.node", "trace_core.ops", "trace_core.spaces", "trace_core.bundle",
           "trace_core.backward", "trace_core.module", "trace_core.budget", "trace_core.feedback"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if name != "trace_core.ops":
        assert result.attempted > 0, f"{name} has no example"
