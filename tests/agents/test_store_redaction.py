"""Every text the store writes is redacted: a reply that echoes the API key is stored without it."""

from __future__ import annotations

import json

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import RunStore, optimize
from tasks.examples.numeric import NumericTask
from trace_core import Budget
from trace_core.llm import ScriptedLLM

KEY = "zq-TESTKEY-0123456789abcdef"  # not key-shaped: only the environment says it is a secret


def _stored_text(store: RunStore) -> str:
    with store.engine.connect() as c:
        tables = sa.inspect(c).get_table_names()
        return "\n".join(repr(list(row)) for t in tables for row in c.execute(sa.text(f"select * from {t}")))


def _echo(key: str) -> str:
    return json.dumps({"reasoning": f"the key is {key}; also sk-abcdef0123456789", "suggestion": {"x": 1.0, "y": 2.0},
                       "no_change": False})


def test_a_reply_echoing_the_api_key_is_stored_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    store = RunStore(tmp_path / "runs.db")
    result = optimize(NumericTask(), optimizer="optoprime", llm=ScriptedLLM([_echo(KEY)] * 3),
                      budget=Budget(max_steps=2), store=store)
    text = _stored_text(store)
    assert KEY not in text and "sk-abcdef0123456789" not in text
    reasonings = [c["reasoning"] for c in store.candidates(result.run_id)]
    assert any("the key is [REDACTED]" in r for r in reasonings)
    assert store.step(result.run_id, 1)["values"] is not None  # values are kept exact


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_the_key_never_reaches_the_store_whatever_surrounds_it(before, after):
    import os

    from agents.store import _redacted

    os.environ["TRACETUNE_TEST_API_KEY"] = KEY
    try:
        row = {"reasoning": before + KEY + after, "feedback": {"text": KEY, "details": {"api_key": "x" * 9}},
               "values": {"x": 1.0}, "score": 1.0}
        out = _redacted([row])[0]
    finally:
        del os.environ["TRACETUNE_TEST_API_KEY"]
    assert KEY not in repr(out) and out["feedback"]["details"]["api_key"] == "[REDACTED]"
    assert out["values"] == {"x": 1.0} and out["score"] == 1.0
