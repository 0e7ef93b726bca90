"""The run store's tables, its schema version, and the migration of older stores.

Version 1 (stores written before the records of :mod:`agents.records`) kept a
``snapshots`` table, a copy of each step's values; version 2 drops it (a step's
``values`` are its snapshot) and records why a proposal failed (``failure_kind``,
``failure``). Version 3 adds ``leases``, the one owner of each run (a row per
run being worked on: host, process id, a token and a heartbeat time); a version 2 store
gains the empty table. Version 4 keeps the front of a multi-objective run at each step:
``fronts`` (one row per step: the hypervolume, the reference point it was measured
against, the worst objective values observed) and ``front_members`` (one row per candidate on the front after that step); a
version 3 store gains the empty tables, and its runs, all single-objective, read as before.
A store of a newer version than this code reads is refused with its version; an older one
is migrated in one transaction when it is opened.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trace_core.errors import ConfigError

__all__ = ["SCHEMA_VERSION", "meta", "runs", "steps", "candidates", "evaluations", "llm_calls", "optimizer_states",
           "leases", "fronts", "front_members", "store_info", "prepare"]

SCHEMA_VERSION = 4

meta = sa.MetaData()


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return repr(value)


class StoreError(ConfigError):
    """A run store that cannot be used; the message names the store and what is wrong."""


class JSONText(sa.types.TypeDecorator):
    """JSON kept as text (portable across SQLite and PostgreSQL), encoded and decoded
    here so no caller handles it."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True, default=_json_default)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        try:
            return None if value is None else json.loads(value)
        except json.JSONDecodeError as e:  # damaged bytes inside a row the database still reads
            raise StoreError(f"the run store cannot be used: a stored value is damaged ({e}). Give another --store "
                             "(or $TRACETUNE_STORE), or restore the store from a copy") from None


store_info = sa.Table(
    "store_info", meta,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.String(200)),
)
runs = sa.Table(
    "runs", meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("job_key", sa.String(200), index=True),
    sa.Column("task", sa.String(200)),
    sa.Column("direction", sa.String(10)),
    sa.Column("config", JSONText),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("stop_reason", sa.String(200)),
    sa.Column("best_score", sa.Float),
    sa.Column("best_values", JSONText),
    sa.Column("initial_score", sa.Float),
    sa.Column("spent", JSONText),
    sa.Column("created_at", sa.String(40)),
    sa.Column("updated_at", sa.String(40)),
)
steps = sa.Table(
    "steps", meta,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("incumbent_score", sa.Float),
    sa.Column("best_candidate_score", sa.Float),
    sa.Column("accepted", sa.Boolean),
    sa.Column("values", JSONText),  # the parameters' values after the step: the step's snapshot
    sa.Column("train_feedback", JSONText),
    sa.Column("graph", JSONText),
    sa.Column("spent", JSONText),
    sa.Column("tokens", sa.Integer),
    sa.Column("cost_usd", sa.Float),
    sa.Column("seconds", sa.Float),
    sa.Column("created_at", sa.String(40)),
)
candidates = sa.Table(
    "candidates", meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("update_id", sa.String(40)),
    sa.Column("values", JSONText),
    sa.Column("reasoning", sa.Text),
    sa.Column("score", sa.Float),
    sa.Column("status", sa.String(20)),  # an Outcome value, or "no change"
    sa.Column("feedback", JSONText),
    sa.Column("failure_kind", sa.String(10)),  # "llm" | "reply" when the proposal failed (version 2)
    sa.Column("failure", sa.Text),
)
evaluations = sa.Table(
    "evaluations", meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("candidate", sa.Integer, primary_key=True),
    sa.Column("example", sa.Integer, primary_key=True),
    sa.Column("score", sa.Float),
    sa.Column("feedback", JSONText),
)
llm_calls = sa.Table(
    "llm_calls", meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("model", sa.String(200)),
    sa.Column("prompt_tokens", sa.Integer),
    sa.Column("completion_tokens", sa.Integer),
    sa.Column("cost_usd", sa.Float),
    sa.Column("latency_s", sa.Float),
    sa.Column("cached", sa.Boolean),
    sa.Column("prompt", sa.Text),
    sa.Column("reply", sa.Text),
)
optimizer_states = sa.Table(
    "optimizer_states", meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("state", JSONText),
)
leases = sa.Table(  # version 3: who works on a run now (agents._lease)
    "leases", meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("token", sa.String(40), nullable=False),
    sa.Column("heartbeat", sa.Float, nullable=False),  # seconds since the epoch
)
fronts = sa.Table(  # version 4: a multi-objective run's front after each step (agents._front)
    "fronts", meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("size", sa.Integer),
    sa.Column("hypervolume", sa.Float),
    sa.Column("reference", JSONText),  # the point the hypervolume is measured against, one value per objective
    sa.Column("worst", JSONText),  # the worst value of each objective observed so far (agents._front)
)
front_members = sa.Table(  # version 4: which candidates are on the front after a step
    "front_members", meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("member_step", sa.Integer, primary_key=True),  # the step that made the candidate
    sa.Column("member_idx", sa.Integer, primary_key=True),  # its index among that step's candidates
    sa.Column("objectives", JSONText),  # its objective values, in the objectives' order
)


def version(conn: Connection) -> int | None:
    """The store's schema version; None for an empty database; 1 for a store written
    before versions were recorded."""
    tables = set(sa.inspect(conn).get_table_names())
    if "store_info" in tables:
        row = conn.execute(sa.select(store_info.c.value).where(store_info.c.key == "schema_version")).first()
        if row is not None:
            return int(row[0])
    return 1 if "runs" in tables else None


def _migrate_1(conn: Connection) -> None:
    """Version 1 -> 2: the failure columns; the ``snapshots`` copy of step values goes."""
    have = {c["name"] for c in sa.inspect(conn).get_columns("candidates")}
    for name, kind in (("failure_kind", "VARCHAR(10)"), ("failure", "TEXT")):
        if name not in have:
            conn.execute(sa.text(f"ALTER TABLE candidates ADD COLUMN {name} {kind}"))
    if "snapshots" in sa.inspect(conn).get_table_names():
        conn.execute(sa.text("DROP TABLE snapshots"))


def prepare(conn: Connection, where: str) -> None:
    """Create a new store's tables, migrate an older store, refuse a newer one."""
    found = version(conn)
    if found is not None and found > SCHEMA_VERSION:
        raise ConfigError(f"the run store {where} has schema version {found}, newer than this tracetune reads "
                          f"(up to {SCHEMA_VERSION}); upgrade tracetune, or use another store")
    if found == 1:
        _migrate_1(conn)
    meta.create_all(conn)  # versions 2 -> 3 and 3 -> 4 only add tables
    if found != SCHEMA_VERSION:
        conn.execute(store_info.delete().where(store_info.c.key == "schema_version"))
        conn.execute(store_info.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
