"""One owner per run: a second resume while the owner's lease is fresh is refused before
any evaluation, naming the owner; a stale or dead owner is taken over; --take-over takes a
fresh one, and the process that lost the lease can no longer commit a step."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agents import RunStore, optimize, resume
from agents._schema import leases
from agents.cli import app
from agents.store import LeaseError
from tasks.examples.numeric import NumericTask
from trace_core import Budget

SETTINGS = settings(max_examples=int(os.environ.get("TRACETUNE_PROPERTY_EXAMPLES", "40")), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class CountingTask(NumericTask):
    evaluations = 0

    def evaluate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CountingTask.evaluations += 1
        return super().evaluate(*args, **kwargs)


def interrupted_run(path: Path) -> str:
    """A run stopped after its first step, ready to resume."""
    stops = iter([False, True])
    return optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=4), store=str(path),
                    should_stop=lambda: next(stops, True)).run_id


def other_owner(path: Path, run_id: str) -> RunStore:
    """Another process working on the run: a store holding a fresh lease of its own."""
    owner = RunStore(path)
    owner.take_lease(run_id)
    return owner


def test_a_second_resume_is_refused_before_any_evaluation(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    run_id = interrupted_run(path)
    owner = other_owner(path, run_id)
    before = RunStore(path).steps(run_id)
    CountingTask.evaluations = 0
    with pytest.raises(LeaseError, match=rf"process {os.getpid()} on host {socket.gethostname()}.*--take-over"):
        resume(run_id, store=str(path), task=CountingTask())
    assert CountingTask.evaluations == 0
    store = RunStore(path)
    assert store.steps(run_id) == before
    assert store.get_run(run_id)["status"] == "interrupted"  # the refusal changes nothing of the owner's run
    owner.close()


def test_the_cli_refuses_with_the_owner_and_how_to_take_over(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    run_id = interrupted_run(path)
    owner = other_owner(path, run_id)
    result = CliRunner().invoke(app, ["resume", run_id, "--store", str(path), "--no-report"], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert f"process {os.getpid()}" in result.output and "--take-over" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["resume", run_id, "--store", str(path), "--no-report", "--take-over"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert RunStore(path).get_run(run_id)["status"] == "finished"
    with pytest.warns(DeprecationWarning), pytest.raises(LeaseError, match="no longer owned"):
        owner.commit_step(run_id, 99, values={})  # the process that lost the run writes nothing
    assert RunStore(path).last_step(run_id)["step"] == 4
    owner.close()


def test_a_stale_lease_is_taken_over_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "runs.db"
    run_id = interrupted_run(path)
    owner = other_owner(path, run_id)
    owner._leases[run_id]._stop.set()  # its heartbeat stops, as a hung or unreachable process's would
    with owner.engine.begin() as c:
        c.execute(leases.update().values(host="elsewhere", heartbeat=time.time() - 3600))
    with caplog.at_level(logging.WARNING, logger="agents._lease"):
        result = resume(run_id, store=str(path))
    assert result.stop_reason and RunStore(path).get_run(run_id)["status"] == "finished"
    assert "taking over run" in caplog.text and "elsewhere" in caplog.text


def test_a_killed_owner_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    run_id = interrupted_run(path)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    store = RunStore(path)
    with store.engine.begin() as c:
        c.execute(leases.insert().values(run_id=run_id, host=socket.gethostname(), pid=int(gone.stdout),
                                         token="dead", heartbeat=time.time()))
    assert resume(run_id, store=str(path)).run_id == run_id


def test_the_heartbeat_renews_and_the_end_releases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACETUNE_LEASE_HEARTBEAT_S", "0.02")
    store = RunStore(tmp_path / "runs.db")
    run_id = store.create_run(name="r", task="numeric", config={})
    store.take_lease(run_id)

    def beat() -> float:
        with store.engine.connect() as c:
            return c.execute(sa.select(leases.c.heartbeat)).scalar_one()

    first, deadline = beat(), time.monotonic() + 30  # a hang guard only
    while beat() == first and time.monotonic() < deadline:
        time.sleep(0.01)
    assert beat() > first
    store.release_lease(run_id)
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(leases)).scalar_one() == 0


def test_a_finished_run_holds_no_lease(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=2), store=str(path))
    with RunStore(path).engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(leases)).scalar_one() == 0


@pytest.fixture(scope="module")
def lease_store(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    store = RunStore(tmp_path_factory.mktemp("lease") / "runs.db")
    store.create_run(name="r", task="numeric", config={}, run_id="r1")
    return store


@SETTINGS
@given(age=st.floats(0, 500), same_host=st.booleans(), take_over=st.booleans(), stale_after=st.floats(1, 300))
def test_who_gets_the_run(lease_store: RunStore, monkeypatch: pytest.MonkeyPatch, age: float, same_host: bool,
                          take_over: bool, stale_after: float) -> None:
    """Any owner state: the lease is taken exactly when asked to take over or the owner
    is stale; otherwise the refusal names the owner, and the owner keeps the run."""
    monkeypatch.setenv("TRACETUNE_LEASE_STALE_S", str(stale_after))
    with lease_store.engine.begin() as c:
        c.execute(leases.delete())
        c.execute(leases.insert().values(run_id="r1", host=socket.gethostname() if same_host else "elsewhere",
                                         pid=os.getpid(), token="theirs", heartbeat=time.time() - age))
    try:
        lease_store.take_lease("r1", take_over=take_over)
    except LeaseError as e:
        assert not take_over and age <= stale_after + 1  # a margin for the time the example takes
        assert f"process {os.getpid()}" in str(e)
        with lease_store.engine.connect() as c:
            assert c.execute(sa.select(leases.c.token)).scalar_one() == "theirs"
    else:
        assert take_over or age > stale_after - 1
        token = lease_store._leases["r1"].token
        with lease_store.engine.connect() as c:
            assert c.execute(sa.select(leases.c.token)).scalar_one() == token
        lease_store.release_lease("r1")
