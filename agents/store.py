"""The run store: every run, step, candidate, evaluation, LLM call, parameter
snapshot and optimizer state, in SQLite (WAL) or any SQLAlchemy URL.

A step is written in one transaction, so a killed run resumes from its last
committed step and redoes at most the evaluations that were in flight.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from trace_core.errors import ConfigError

__all__ = ["RunStore", "open_store", "default_store_url"]

log = logging.getLogger(__name__)

meta = sa.MetaData()


class _JSON(sa.types.TypeDecorator):
    """JSON kept as text (portable across SQLite and PostgreSQL), encoded and decoded
    here so no caller handles it."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True, default=_json_default)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


runs = sa.Table(
    "runs", meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("job_key", sa.String(200), index=True),
    sa.Column("task", sa.String(200)),
    sa.Column("direction", sa.String(10)),
    sa.Column("config", _JSON),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("stop_reason", sa.String(200)),
    sa.Column("best_score", sa.Float),
    sa.Column("best_values", _JSON),
    sa.Column("initial_score", sa.Float),
    sa.Column("spent", _JSON),
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
    sa.Column("values", _JSON),
    sa.Column("train_feedback", _JSON),
    sa.Column("graph", _JSON),
    sa.Column("spent", _JSON),
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
    sa.Column("values", _JSON),
    sa.Column("reasoning", sa.Text),
    sa.Column("score", sa.Float),
    sa.Column("status", sa.String(20)),
    sa.Column("feedback", _JSON),
)
evaluations = sa.Table(
    "evaluations", meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("candidate", sa.Integer, primary_key=True),
    sa.Column("example", sa.Integer, primary_key=True),
    sa.Column("score", sa.Float),
    sa.Column("feedback", _JSON),
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
snapshots = sa.Table(
    "snapshots", meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("values", _JSON),
)
optimizer_states = sa.Table(
    "optimizer_states", meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("state", _JSON),
)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return repr(value)


def default_store_url() -> str:
    """``$TRACETUNE_STORE`` or ``sqlite:///./.tracetune/runs.db``."""
    return os.environ.get("TRACETUNE_STORE") or "sqlite:///.tracetune/runs.db"


def _url(target: str | os.PathLike[str]) -> str:
    text = os.fspath(target)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser()}"


class RunStore:
    """Read and write runs. ``RunStore("runs.db")`` or ``RunStore("postgresql+psycopg://...")``.

    Example:
        >>> store = RunStore("sqlite://")
        >>> run_id = store.create_run(name="demo", task="numeric", config={})
        >>> store.get_run(run_id)["status"]
        'running'
    """

    def __init__(self, target: str | os.PathLike[str] | None = None):
        self.url = _url(target or default_store_url())
        self.engine = self._engine(self.url)
        self._create_tables()

    def _create_tables(self, attempts: int = 20) -> None:
        """Create missing tables. Two workers opening a new store at once may both
        try; the loser sees "already exists" or "locked" and checks again."""
        for attempt in range(attempts):
            try:
                meta.create_all(self.engine)
                return
            except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError) as e:
                if attempt == attempts - 1:
                    raise ConfigError(f"cannot create the run store's tables in {self.safe_url}: {e}") from None
                time.sleep(0.05 * (1 + attempt))

    @staticmethod
    def _engine(url: str) -> Engine:
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                if path and path != ":memory:":
                    cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=60000")
                cur.close()

            return engine
        try:
            return sa.create_engine(url, pool_pre_ping=True)
        except (sa.exc.ArgumentError, ImportError, ModuleNotFoundError) as e:
            raise ConfigError(f"cannot open run store {url.split('@')[-1]!r}: {e}") from None

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- runs ---------------------------------------------------------------------------
    def create_run(self, *, name: str, task: str, config: dict[str, Any], direction: str = "maximize",
                   job_key: str | None = None, run_id: str | None = None) -> str:
        run_id = run_id or uuid.uuid4().hex[:12]
        now = _now()
        with self._tx() as c:
            c.execute(runs.insert().values(
                id=run_id, name=name, job_key=job_key or name, task=task, direction=direction,
                config=config, status="running", created_at=now, updated_at=now))
        return run_id

    def update_run(self, run_id: str, **fields: Any) -> None:
        fields["updated_at"] = _now()
        with self._tx() as c:
            c.execute(runs.update().where(runs.c.id == run_id).values(**fields))

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as c:
            row = c.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
            if row is None:
                # allow unique prefixes, as git does
                rows = c.execute(sa.select(runs).where(runs.c.id.like(f"{run_id}%"))).mappings().all()
                if len(rows) != 1:
                    raise ConfigError(f"no run {run_id!r} in {self.safe_url}; `tracetune list` shows the runs")
                row = rows[0]
        return dict(row)

    def list_runs(self, *, job_key: str | None = None, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = sa.select(runs).order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
        if job_key is not None:
            q = q.where(runs.c.job_key == job_key)
        if status is not None:
            q = q.where(runs.c.status == status)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(q).mappings().all()]

    @property
    def safe_url(self) -> str:
        """The URL without credentials."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # -- steps --------------------------------------------------------------------------
    def commit_step(
        self,
        run_id: str,
        step: int,
        *,
        incumbent_score: float | None,
        best_candidate_score: float | None,
        accepted: bool,
        values: dict[str, Any],
        candidates_rows: Sequence[dict[str, Any]] = (),
        evaluation_rows: Sequence[dict[str, Any]] = (),
        llm_rows: Sequence[dict[str, Any]] = (),
        optimizer_state: dict[str, Any] | None = None,
        train_feedback: Any = None,
        graph: Any = None,
        spent: dict[str, Any] | None = None,
        tokens: int = 0,
        cost_usd: float = 0.0,
        seconds: float = 0.0,
        run_fields: dict[str, Any] | None = None,
    ) -> None:
        """Write one step and everything it made in one transaction (idempotent)."""
        with self._tx() as c:
            exists = c.execute(sa.select(steps.c.step).where(steps.c.run_id == run_id, steps.c.step == step)).first()
            if exists:
                log.warning("step %s of run %s is already committed; not writing it twice", step, run_id)
                return
            c.execute(steps.insert().values(
                run_id=run_id, step=step, incumbent_score=incumbent_score, best_candidate_score=best_candidate_score,
                accepted=accepted, values=values, train_feedback=train_feedback, graph=graph, spent=spent or {},
                tokens=tokens, cost_usd=cost_usd, seconds=seconds, created_at=_now()))
            key = {"run_id": run_id, "step": step}
            if candidates_rows:  # one executemany per table
                c.execute(candidates.insert(), [
                    {**key, "idx": row["idx"], "update_id": row.get("update_id"), "values": row.get("values"),
                     "reasoning": row.get("reasoning", ""), "score": row.get("score"),
                     "status": row.get("status", "done"), "feedback": row.get("feedback")}
                    for row in candidates_rows])
            if evaluation_rows:
                c.execute(evaluations.insert(), [
                    {**key, "candidate": row["candidate"], "example": row["example"], "score": row.get("score"),
                     "feedback": row.get("feedback")} for row in evaluation_rows])
            if llm_rows:
                c.execute(llm_calls.insert(), [{**key, "idx": i, **row} for i, row in enumerate(llm_rows)])
            c.execute(snapshots.insert().values(**key, values=values))
            if optimizer_state is not None:
                c.execute(optimizer_states.insert().values(**key, state=optimizer_state))
            fields = {**(run_fields or {}), "updated_at": _now()}
            c.execute(runs.update().where(runs.c.id == run_id).values(**fields))

    def last_step(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(
                sa.select(steps).where(steps.c.run_id == run_id).order_by(steps.c.step.desc()).limit(1)
            ).mappings().first()
            if row is None:
                return None
            out = dict(row)
            st = c.execute(sa.select(optimizer_states.c.state).where(
                optimizer_states.c.run_id == run_id, optimizer_states.c.step == out["step"])).first()
            out["optimizer_state"] = st[0] if st else None
            return out

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(steps).where(steps.c.run_id == run_id).order_by(steps.c.step)).mappings().all()
        return [dict(r) for r in rows]

    def candidates(self, run_id: str, step: int | None = None) -> list[dict[str, Any]]:
        q = sa.select(candidates).where(candidates.c.run_id == run_id)
        if step is not None:
            q = q.where(candidates.c.step == step)
        with self.engine.connect() as c:
            rows = c.execute(q.order_by(candidates.c.step, candidates.c.idx)).mappings().all()
        return [dict(r) for r in rows]

    def evaluations(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(evaluations).where(evaluations.c.run_id == run_id).order_by(
                evaluations.c.step, evaluations.c.candidate, evaluations.c.example)).mappings().all()
        return [dict(r) for r in rows]

    def llm_calls(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(llm_calls).where(llm_calls.c.run_id == run_id).order_by(
                llm_calls.c.step, llm_calls.c.idx)).mappings().all()
        return [dict(r) for r in rows]

    def snapshot(self, run_id: str, step: int) -> dict[str, Any]:
        with self.engine.connect() as c:
            row = c.execute(sa.select(snapshots.c["values"]).where(
                snapshots.c.run_id == run_id, snapshots.c.step == step)).first()
        if row is None:
            raise ConfigError(f"run {run_id} has no committed step {step}")
        return row[0]

    def set_step_graph(self, run_id: str, step: int, graph: Any) -> None:
        """Attach a traced graph to a committed step (a report traces the best values
        once after a run whose optimizer does not read traces)."""
        with self._tx() as c:
            c.execute(steps.update().where(steps.c.run_id == run_id, steps.c.step == step).values(graph=graph))

    def delete_steps_after(self, run_id: str, step: int) -> None:
        """Forget steps after ``step`` (used when rolling a run back)."""
        with self._tx() as c:
            for table in (steps, candidates, evaluations, llm_calls, snapshots, optimizer_states):
                c.execute(table.delete().where(table.c.run_id == run_id, table.c.step > step))

    def close(self) -> None:
        self.engine.dispose()


def open_store(store: RunStore | str | os.PathLike[str] | None) -> RunStore:
    """A RunStore from a store, a URL or path, or the default location."""
    return store if isinstance(store, RunStore) else RunStore(store)
