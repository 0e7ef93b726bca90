"""pytest fixtures of tracetune: ``openai_server`` (a fresh loopback server per test).

Use it from a conftest or a test module::

    from trace_core.testing.pytest_plugin import openai_server  # noqa: F401

    def test_hello(openai_server):
        assert openai_server.url.startswith("http://127.0.0.1")
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trace_core.testing.server import LoopbackServer
from trace_core.testing.server import openai_server as _openai_server

__all__ = ["openai_server"]


@pytest.fixture(name="openai_server")
def openai_server() -> Iterator[LoopbackServer]:
    """A loopback OpenAI-compatible server in ``normal`` mode; set ``.mode`` / ``.script`` per test."""
    with _openai_server() as server:
        yield server
