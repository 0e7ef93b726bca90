"""One owner per run: a lease with a heartbeat, as Optuna's heartbeat for trials.

A process that starts or resumes a run takes the run's lease (a row of ``leases``: its
host, process id, a random token and a heartbeat time) and a background thread renews
the heartbeat every ``heartbeat_s`` seconds. Another process asking for the run while the
heartbeat is fresh is refused with :class:`LeaseError`, naming the owner; a lease whose
heartbeat is older than ``stale_after_s``, or whose owner is a process of this host that
no longer exists (killed), is taken over with a warning, and ``take_over=True`` takes a fresh one. Every step is committed in a
transaction that first checks the token, so a process that lost its lease writes nothing.

Defaults: a heartbeat every 10 s, stale after 60 s; ``$TRACETUNE_LEASE_HEARTBEAT_S`` and
``$TRACETUNE_LEASE_STALE_S`` change them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from agents._schema import leases
from trace_core.errors import ConfigError

__all__ = ["Lease", "LeaseError", "take_lease", "check_token"]

log = logging.getLogger(__name__)


class LeaseError(ConfigError):
    """The run is owned by another process (or this process lost its lease)."""


def _seconds(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        raise ConfigError(f"${name} must be a number of seconds, got {os.environ[name]!r}") from None


def _age(heartbeat: float, now: float) -> str:
    return f"{max(0.0, now - heartbeat):.0f} s ago"


def _dead(owner_host: str, pid: int, host: str) -> bool:
    """Whether the owner is a process of this host that no longer exists (killed): its
    lease is stale at once, with no need to wait for the heartbeat to age."""
    if owner_host != host or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by another user
        return False
    return False


class Lease:
    """This process's hold on one run; :meth:`release` ends it."""

    def __init__(self, engine: Engine, run_id: str, token: str, heartbeat_s: float):
        self.engine, self.run_id, self.token = engine, run_id, token
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat_s,), daemon=True,
                                        name=f"tracetune-lease-{run_id}")
        self._thread.start()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                with self.engine.begin() as c:
                    n = c.execute(leases.update().where(leases.c.run_id == self.run_id, leases.c.token == self.token)
                                  .values(heartbeat=time.time())).rowcount
            except Exception:  # noqa: BLE001 - a missed beat is retried; the owner's commit checks the token
                log.warning("could not renew the lease of run %s", self.run_id, exc_info=True)
                continue
            if n == 0:
                self.lost = True
                log.warning("run %s was taken over by another process; this one stops at its next step", self.run_id)
                return

    def release(self) -> None:
        """Stop the heartbeat and free the run (only if this process still holds it)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        try:
            with self.engine.begin() as c:
                c.execute(leases.delete().where(leases.c.run_id == self.run_id, leases.c.token == self.token))
        except Exception:  # noqa: BLE001 - the lease goes stale by itself
            log.warning("could not release the lease of run %s; it goes stale by itself", self.run_id, exc_info=True)


def take_lease(engine: Engine, run_id: str, *, take_over: bool = False, where: str = "",
               heartbeat_s: float | None = None, stale_after_s: float | None = None) -> Lease:
    """Take the lease of ``run_id``, or raise LeaseError naming its fresh owner."""
    heartbeat_s = heartbeat_s if heartbeat_s is not None else _seconds("TRACETUNE_LEASE_HEARTBEAT_S", 10.0)
    stale_after_s = stale_after_s if stale_after_s is not None else _seconds("TRACETUNE_LEASE_STALE_S", 60.0)
    token, host, pid = uuid.uuid4().hex, socket.gethostname(), os.getpid()
    mine = {"host": host, "pid": pid, "token": token}
    for _ in range(5):  # another process may take it between our read and our write
        now = time.time()
        with engine.connect() as c:
            row = c.execute(sa.select(leases).where(leases.c.run_id == run_id)).mappings().first()
        if row is None:
            try:
                with engine.begin() as c:
                    c.execute(leases.insert().values(run_id=run_id, heartbeat=now, **mine))
            except sa.exc.IntegrityError:
                continue
            return Lease(engine, run_id, token, heartbeat_s)
        with engine.begin() as c:
            stale = now - row["heartbeat"] > stale_after_s or _dead(row["host"], row["pid"], host)
            if not (stale or take_over):
                raise LeaseError(
                    f"run {run_id} is being worked on by process {row['pid']} on host {row['host']} (heartbeat "
                    f"{_age(row['heartbeat'], now)}). Wait until it ends, or until its lease is stale (no heartbeat for "
                    f"{stale_after_s:.0f} s; then it is taken over by itself), or stop that process and pass "
                    f"--take-over (take_over=True) to take the run now{f' (store {where})' if where else ''}")
            n = c.execute(leases.update().where(leases.c.run_id == run_id, leases.c.token == row["token"])
                          .values(heartbeat=now, **mine)).rowcount
            if n == 1:
                log.warning("taking over run %s from process %s on host %s (heartbeat %s%s)", run_id, row["pid"],
                            row["host"], _age(row["heartbeat"], now), ", stale" if stale else "")
                return Lease(engine, run_id, token, heartbeat_s)
    raise LeaseError(f"run {run_id}: other processes keep taking its lease; try again")


def check_token(conn: Connection, run_id: str, token: str) -> None:
    """Inside a commit's transaction: refuse it unless this process still holds the run."""
    row = conn.execute(sa.select(leases.c.token, leases.c.host, leases.c.pid)
                       .where(leases.c.run_id == run_id)).first()
    if row is None or row[0] != token:
        owner = "nobody" if row is None else f"process {row[2]} on host {row[1]}"
        raise LeaseError(f"run {run_id} is no longer owned by this process (now: {owner}); this step is not "
                         "written, so no step is done twice. `tracetune show` shows the run")
