"""The run store: every run, step, candidate, evaluation, LLM call and optimizer state,
in SQLite (WAL) or any SQLAlchemy URL.

The loop hands the store one :class:`~agents.records.StepOutcome` per step; the store
maps it to rows and writes them in one transaction, so a killed run resumes from its
last committed step and redoes at most the evaluations that were in flight. A step's
``values`` are the parameters' values after it: they are the snapshot a run resumes or
rolls back to (there is no separate copy). Tables and migrations: :mod:`agents._schema`.

A store that cannot be used raises :class:`StoreError` (a ConfigError: the CLI exits 2)
naming the store and what is wrong: a folder that is missing and cannot be made or is not
writable, a file that is not an SQLite database, a truncated or corrupt one (checked when
the store is opened, and again whenever SQLite reports it later). An empty file is a new,
empty store: SQLite itself treats a zero-byte file so, and ``touch runs.db`` is a natural
way to name a store before its first run.

Each run has one owner at a time, a lease with a heartbeat (:mod:`agents._lease`).

(Past 400 lines: the store is one idea, a run's rows, and its reads and writes sit
together so the one transaction per step stays visible; the file check is its door.)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from agents._lease import Lease, LeaseError, check_token, take_lease
from agents._front_store import front_rows, read_front, read_fronts
from agents._schema import (StoreError, candidates, evaluations, front_members, fronts, llm_calls, optimizer_states, prepare, runs,
                            steps)
from agents.records import NO_CHANGE, StepOutcome
from trace_core.errors import ConfigError
from trace_core.feedback import Feedback
from trace_core.llm.redact import redact
from trace_core.outcome import score

__all__ = ["RunStore", "StoreError", "LeaseError", "open_store", "default_store_url"]

log = logging.getLogger(__name__)

_FEEDBACK_CHARS, _EXAMPLE_CHARS = 4000, 1000
_INSERT = {table: table.insert() for table in (steps, candidates, evaluations, llm_calls, optimizer_states, fronts,
                                               front_members)}
_UPDATE_RUN = runs.update().where(runs.c.id == sa.bindparam("run"))


_TEXT_JSON = ("feedback", "train_feedback")  # JSON columns holding text for people (values are kept exact)


def _redacted(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with API keys redacted from every text column and from feedback: the one
    place text enters the store, so a reply that echoes a key is never stored with it."""
    return [{k: redact(v) if isinstance(v, str) or k in _TEXT_JSON else v for k, v in row.items()} for row in rows]


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _unusable(where: str, what: str) -> StoreError:
    return StoreError(f"the run store {where} cannot be used: {what}. Give another --store (or $TRACETUNE_STORE), "
                      "or restore the store from a copy")


def _check_sqlite_file(path: Path, where: str) -> None:
    """Refuse a SQLite store file that cannot work, before SQLite touches it: a folder
    that cannot be made or written, a file that is not a database, a truncated one (its
    header records its size in pages; reading past the end is what SQLite calls
    "malformed"). O(1): reads the 100-byte header only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _unusable(where, f"its folder {str(path.parent)!r} cannot be made ({e.strerror or e})") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise _unusable(where, f"its folder {str(path.parent)!r} is not writable")
    if path.is_dir():
        raise _unusable(where, "it is a folder, not a file")
    if not path.exists():
        return
    try:
        with path.open("rb") as f:
            header = f.read(100)
        size = path.stat().st_size
    except OSError as e:
        raise _unusable(where, f"it cannot be read ({e.strerror or e})") from None
    if not header:
        return  # an empty file is a new store (see the module docstring)
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise _unusable(where, "the file is not an SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages, counter, valid_for = (int.from_bytes(header[i:i + 4], "big") for i in (28, 24, 92))
    if page_size < 512 or page_size & (page_size - 1):
        raise _unusable(where, "the file's header is damaged (database disk image is malformed)")
    if pages and counter == valid_for and size < pages * page_size:
        raise _unusable(where, f"the file is truncated: {size} bytes of {pages * page_size} "
                               "(database disk image is malformed)")


def feedback_json(fb: Feedback, limit: int = _FEEDBACK_CHARS) -> dict[str, Any]:
    """A Feedback as stored: JSON data, its text cut to ``limit`` characters."""
    data = fb.model_dump(mode="json")
    data["text"] = data["text"][:limit]
    return data


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


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
        self._leases: dict[str, Lease] = {}
        self._map_errors()
        self._create_tables()

    def _map_errors(self) -> None:
        """Every database error but a constraint's becomes a StoreError naming this store:
        SQLite may find a corrupt page only when a query reads it."""
        where = self.safe_url

        @sa.event.listens_for(self.engine, "handle_error")
        def _store_error(context: Any) -> Exception | None:
            error, raw = context.sqlalchemy_exception, context.original_exception
            if isinstance(raw, UnicodeDecodeError):  # SQLite's message quotes damaged bytes of the schema
                return _unusable(where, bytes(raw.object).decode("utf-8", "replace"))
            if isinstance(error, sa.exc.IntegrityError) or not isinstance(error, sa.exc.DBAPIError):
                return None
            if isinstance(error, (sa.exc.OperationalError, sa.exc.ProgrammingError)) and any(
                    word in str(error.orig) for word in ("locked", "already exists", "duplicate")):
                return None  # contention, retried where it can happen (_create_tables)
            return _unusable(where, str(error.orig) or type(error.orig).__name__)

    def _create_tables(self, attempts: int = 20) -> None:
        """Create a new store's tables or migrate an older store (:func:`agents._schema.prepare`).
        Two workers opening a new store at once may both try; the loser sees "already
        exists" or "locked" and checks again."""
        for attempt in range(attempts):
            try:
                with self._tx() as c:
                    prepare(c, self.safe_url)
                return
            except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError) as e:
                if attempt == attempts - 1:
                    raise ConfigError(f"cannot create the run store's tables in {self.safe_url}: {e}") from None
                time.sleep(0.05 * (1 + attempt))

    @staticmethod
    def _engine(url: str) -> Engine:
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:" and not path.startswith("file:"):
                _check_sqlite_file(Path(path), url)
            engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                try:
                    if path and path != ":memory:":
                        cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA synchronous=NORMAL")
                    cur.execute("PRAGMA busy_timeout=60000")
                except UnicodeDecodeError as e:  # SQLite's message quotes damaged bytes of the schema
                    raise _unusable(url, e.object.decode("utf-8", "replace")) from None
                finally:
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

    # -- ownership (agents._lease) --------------------------------------------------------
    def take_lease(self, run_id: str, *, take_over: bool = False) -> Lease:
        """Become the one process working on ``run_id``: refused (LeaseError, naming the
        owner) while another holds a fresh lease; a stale one is taken over. From now on
        this store commits the run's steps only while the lease is still ours."""
        lease = take_lease(self.engine, run_id, take_over=take_over, where=self.safe_url)
        self._leases[run_id] = lease
        return lease

    def release_lease(self, run_id: str) -> None:
        """Free ``run_id`` for other processes (a no-op when this store holds no lease)."""
        lease = self._leases.pop(run_id, None)
        if lease is not None:
            lease.release()

    @property
    def safe_url(self) -> str:
        """The URL without credentials."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # -- steps --------------------------------------------------------------------------
    def commit(self, run_id: str, outcome: StepOutcome) -> None:
        """Write one step (a :class:`~agents.records.StepOutcome`) and everything it made,
        in one transaction; a step already committed is not written twice."""
        o, key = outcome, {"run_id": run_id, "step": outcome.step}
        cand_rows, eval_rows, llm_rows = [], [], []
        for i, c in enumerate(o.candidates):
            result, failure = c.result, c.update.failure
            cand_rows.append({**key, "idx": i, "update_id": c.update.id, "values": dict(c.values),
                              "reasoning": c.update.reasoning[:8000], "score": c.score, "status": c.status,
                              "feedback": None if result is None else feedback_json(result.feedback),
                              "failure_kind": None if failure is None else failure.kind,
                              "failure": None if failure is None else failure.error[:4000]})
            if result is not None:
                eval_rows += [{**key, "candidate": i, "example": j, "score": score(fb),
                               "feedback": feedback_json(fb, _EXAMPLE_CHARS)} for j, fb in enumerate(result.per_example)]
            llm_rows += [{"model": call.model, "prompt_tokens": call.prompt_tokens,
                          "completion_tokens": call.completion_tokens, "cost_usd": call.cost_usd,
                          "latency_s": call.latency_s, "cached": call.cached, "prompt": call.prompt[:50000],
                          "reply": call.reply[:20000]} for call in c.update.llm_calls]
        # the run's row changes with the values only (an accepted step); what a step spent is in its own row
        run_fields = {"best_score": o.incumbent_score, "best_values": dict(o.values), "spent": dict(o.spent)} \
            if o.accepted or o.step == 0 else None
        if o.step == 0:
            run_fields["initial_score"] = o.initial_score
        step_row = {"incumbent_score": o.incumbent_score, "best_candidate_score": o.best_candidate_score,
                    "accepted": o.accepted, "values": dict(o.values), "train_feedback": o.train_feedback,
                    "graph": o.graph, "spent": dict(o.spent), "tokens": o.tokens, "cost_usd": o.cost_usd,
                    "seconds": o.seconds}
        front = None if o.front is None else front_rows(key, o.front)
        self._write(key, step_row, cand_rows, eval_rows, llm_rows, o.optimizer_state, run_fields, front)

    def _write(self, key: dict[str, Any], step_row: dict[str, Any], cand_rows: Sequence[dict[str, Any]],
               eval_rows: Sequence[dict[str, Any]], llm_rows: Sequence[dict[str, Any]], state: Any,
               run_fields: dict[str, Any] | None, front: tuple[dict[str, Any], list[dict[str, Any]]] | None = None
               ) -> None:
        # statements built once (module level) and rows as parameters: the compiled forms are
        # cached, so a step costs a few inserts however long the run is
        step_row, cand_rows, eval_rows, llm_rows = _redacted([step_row])[0], _redacted(cand_rows), \
            _redacted(eval_rows), _redacted(llm_rows)
        try:
            with self._tx() as c:
                if key["run_id"] in self._leases:  # in the step's transaction: a lost lease writes nothing
                    check_token(c, key["run_id"], self._leases[key["run_id"]].token)
                c.execute(_INSERT[steps], [{**key, **step_row, "created_at": _now()}])
                if cand_rows:  # one executemany per table
                    c.execute(_INSERT[candidates], list(cand_rows))
                if eval_rows:
                    c.execute(_INSERT[evaluations], list(eval_rows))
                if llm_rows:
                    c.execute(_INSERT[llm_calls], [{**key, "idx": i, **row} for i, row in enumerate(llm_rows)])
                if state is not None:
                    c.execute(_INSERT[optimizer_states], [{**key, "state": dict(state)}])
                if front is not None:  # a multi-objective run's front after the step
                    c.execute(_INSERT[fronts], [front[0]])
                    if front[1]:
                        c.execute(_INSERT[front_members], front[1])
                if run_fields is not None:
                    c.execute(_UPDATE_RUN, [{"run": key["run_id"], **run_fields, "updated_at": _now()}])
        except sa.exc.IntegrityError:
            if self._has_step(key["run_id"], key["step"]):  # the whole transaction was rolled back
                log.warning("step %s of run %s is already committed; not writing it twice", key["step"], key["run_id"])
                return
            raise

    def _has_step(self, run_id: str, step: int) -> bool:
        with self.engine.connect() as c:
            return c.execute(sa.select(steps.c.step).where(steps.c.run_id == run_id, steps.c.step == step)).first() \
                is not None

    def commit_step(self, run_id: str, step: int, *, values: dict[str, Any], incumbent_score: float | None = None,
                    best_candidate_score: float | None = None, accepted: bool = True,
                    candidates_rows: Sequence[dict[str, Any]] = (), evaluation_rows: Sequence[dict[str, Any]] = (),
                    llm_rows: Sequence[dict[str, Any]] = (), optimizer_state: dict[str, Any] | None = None,
                    run_fields: dict[str, Any] | None = None, **step_fields: Any) -> None:
        """Deprecated: make a :class:`~agents.records.StepOutcome` and call :meth:`commit`.
        Writes rows given as dicts, as before."""
        warnings.warn("RunStore.commit_step is deprecated; use RunStore.commit(run_id, StepOutcome(...))",
                      DeprecationWarning, stacklevel=2)
        key = {"run_id": run_id, "step": step}
        step_row = {"incumbent_score": incumbent_score, "best_candidate_score": best_candidate_score,
                    "accepted": accepted, "values": values, "spent": {}, **step_fields}
        cands = [{"update_id": None, "values": None, "reasoning": "", "score": None, "status": "done", "feedback": None,
                  **row, **key} for row in candidates_rows]
        evals = [{"score": None, "feedback": None, **row, **key} for row in evaluation_rows]
        self._write(key, step_row, cands, evals, llm_rows, optimizer_state, dict(run_fields or {}))

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

    def step(self, run_id: str, step: int) -> dict[str, Any]:
        """One committed step (its values are the snapshot of that step)."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(steps).where(steps.c.run_id == run_id, steps.c.step == step)).mappings().first()
        if row is None:
            raise ConfigError(f"run {run_id} has no committed step {step}")
        return dict(row)

    def front(self, run_id: str, step: int | None = None) -> dict[str, Any] | None:
        """A multi-objective run's front after ``step`` (default: its last step): ``step``,
        ``hypervolume``, ``reference`` and ``members`` (see :func:`agents._front_store.read_front`);
        None for a single-objective run."""
        with self.engine.connect() as c:
            return read_front(c, run_id, step)

    def fronts(self, run_id: str) -> list[dict[str, Any]]:
        """The front's ``size``, ``hypervolume`` and ``reference`` point after each step, oldest first."""
        with self.engine.connect() as c:
            return read_fronts(c, run_id)

    def optimizer_states(self, run_id: str) -> list[dict[str, Any]]:
        """The optimizer state of every committed step, oldest first."""
        with self.engine.connect() as c:
            rows = c.execute(sa.select(optimizer_states.c.state).where(optimizer_states.c.run_id == run_id)
                             .order_by(optimizer_states.c.step)).all()
        return [r[0] for r in rows if r[0] is not None]

    def tally(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Totals over a run's steps: ``outcomes`` (status -> count of evaluated candidates),
        ``failures`` (failure kind -> count), ``tokens`` and ``cost_usd``."""
        with self.engine.connect() as c:
            statuses = c.execute(sa.select(candidates.c.status, sa.func.count()).where(
                candidates.c.run_id == run_id).group_by(candidates.c.status)).all()
            kinds = c.execute(sa.select(candidates.c.failure_kind, sa.func.count()).where(
                candidates.c.run_id == run_id, candidates.c.failure_kind.is_not(None))
                .group_by(candidates.c.failure_kind)).all()
            tokens, cost = c.execute(sa.select(sa.func.coalesce(sa.func.sum(steps.c.tokens), 0),
                                               sa.func.coalesce(sa.func.sum(steps.c.cost_usd), 0.0))
                                     .where(steps.c.run_id == run_id)).one()
        return {"outcomes": {s: n for s, n in statuses if s != NO_CHANGE}, "failures": dict(kinds),
                "totals": {"tokens": int(tokens), "cost_usd": float(cost)}}

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
        """The parameters' values after committed step ``step`` (JSON data)."""
        return self.step(run_id, step)["values"]

    def set_step_graph(self, run_id: str, step: int, graph: Any) -> None:
        """Attach a traced graph to a committed step (a report traces the best values
        once after a run whose optimizer does not read traces)."""
        with self._tx() as c:
            c.execute(steps.update().where(steps.c.run_id == run_id, steps.c.step == step).values(graph=graph))

    def delete_steps_after(self, run_id: str, step: int) -> None:
        """Forget steps after ``step`` (used when rolling a run back)."""
        with self._tx() as c:
            for table in (steps, candidates, evaluations, llm_calls, optimizer_states, fronts, front_members):
                c.execute(table.delete().where(table.c.run_id == run_id, table.c.step > step))

    def close(self) -> None:
        for run_id in list(self._leases):
            self.release_lease(run_id)
        self.engine.dispose()


def open_store(store: RunStore | str | os.PathLike[str] | None) -> RunStore:
    """A RunStore from a store, a URL or path, or the default location."""
    return store if isinstance(store, RunStore) else RunStore(store)
