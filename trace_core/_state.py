"""Tracing state, in ``contextvars`` so threads and asyncio tasks each trace their own graphs.

Shared by :mod:`trace_core.node` (parameters record reads, honour value overrides) and
:mod:`trace_core.ops` (operators run traced or plain).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

_tracing: contextvars.ContextVar[bool] = contextvars.ContextVar("tracetune_tracing", default=True)
_catching: contextvars.ContextVar[bool] = contextvars.ContextVar("tracetune_catching", default=False)
_overrides: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "tracetune_overrides", default=None
)
# Parameters read while a bundled function or an attribute call runs (hidden parents);
# None when nobody listens.
_reads: contextvars.ContextVar[list | None] = contextvars.ContextVar("tracetune_reads", default=None)
