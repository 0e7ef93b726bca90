"""A real `tracetune run` in a subprocess: killed with SIGKILL then resumed, and
stopped with Ctrl-C (SIGINT) after the current step with everything committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from agents import RunStore
from tests.agents.test_cli import invoke, numeric_job

ROOT = Path(__file__).resolve().parents[2]


def _tracetune(*args: str | Path, cwd: Path) -> subprocess.Popen:
    script = Path(sys.executable).with_name("tracetune")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "agents.cli"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = open(cwd / "out.txt", "w")  # noqa: SIM115 - closed when the test reads it
    return subprocess.Popen([*cmd, *map(str, args)], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_for_steps(db: Path, proc: subprocess.Popen, n: int) -> int:
    deadline, done = time.monotonic() + 60, 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sa.create_engine(f"sqlite:///{db}").connect() as c:
                done = c.execute(sa.text("select count(*) from steps")).scalar() or 0
        except sa.exc.OperationalError:
            done = 0
        if done >= n:
            return done
        time.sleep(0.05)
    raise AssertionError(f"only {done} steps committed; output:\n{(db.parent / 'out.txt').read_text()[-2000:]}")


def test_sigkill_then_tracetune_resume(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    job = numeric_job(tmp_path / "job.toml", name="killed", steps=10, delay=0.05)
    proc = _tracetune("run", job, "--store", db, "--no-report", cwd=tmp_path)
    _wait_for_steps(db, proc, 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = RunStore(db)
    (run,) = store.list_runs()
    assert run["status"] == "running"  # it never got to say otherwise
    before = store.steps(run["id"])
    assert [s["step"] for s in before] == list(range(len(before)))
    result = invoke("resume", run["id"], "--store", db, "--report", tmp_path / "resumed.html")
    assert result.exit_code == 0, result.output
    assert f"resuming run {run['id']} (killed) after step {before[-1]['step']}" in result.stdout
    after = store.steps(run["id"])
    assert [s["step"] for s in after] == list(range(11))
    assert [s["values"] for s in after[: len(before)]] == [s["values"] for s in before]  # nothing redone
    keys = [(c["step"], c["idx"]) for c in store.candidates(run["id"])]
    assert len(keys) == len(set(keys)) == 1 + 10 * 2
    assert store.get_run(run["id"])["status"] == "finished" and (tmp_path / "resumed.html").exists()


def test_ctrl_c_stops_after_the_current_step(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    job = numeric_job(tmp_path / "job.toml", name="stopped", steps=12, delay=0.05)
    proc = _tracetune("run", job, "--store", db, "--report", tmp_path / "r.html", cwd=tmp_path)
    _wait_for_steps(db, proc, 3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    output = (tmp_path / "out.txt").read_text()
    store = RunStore(db)
    (run,) = store.list_runs()
    assert run["status"] == "interrupted" and run["stop_reason"] == "interrupted"
    assert f"continue with: tracetune resume {run['id']}" in output and "stopping after the current step" in output
    steps = [s["step"] for s in store.steps(run["id"])]
    assert 3 <= len(steps) < 13 and steps == list(range(len(steps)))
    assert (tmp_path / "r.html").exists()
    resumed = invoke("resume", run["id"][:8], "--store", db, "--no-report")
    assert resumed.exit_code == 0 and store.get_run(run["id"])["status"] == "finished"
    assert [s["step"] for s in store.steps(run["id"])] == list(range(13))
