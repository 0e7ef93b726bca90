"""Shared test set-up: offline, one torch thread, markers for services."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


def require_service(available: bool, reason: str) -> None:
    """Skip when a service (PostgreSQL, Chromium) is absent, unless CI requires it."""
    if available:
        return
    if os.environ.get("TRACETUNE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


def postgres_url() -> str:
    """The test PostgreSQL URL (``$TRACETUNE_TEST_POSTGRES_URL``) when a server answers
    there; otherwise skip (or fail when CI requires services)."""
    import sqlalchemy as sa

    url = os.environ.get("TRACETUNE_TEST_POSTGRES_URL", "")
    ok = False
    if url:
        try:
            with sa.create_engine(url).connect() as c:
                c.execute(sa.text("select 1"))
            ok = True
        except Exception:  # noqa: BLE001 - any failure means: no server
            ok = False
    require_service(ok, "no PostgreSQL server (set TRACETUNE_TEST_POSTGRES_URL)")
    return url
