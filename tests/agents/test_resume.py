"""A run killed with SIGKILL resumes from its last committed step, without duplicates;
two workers share one store; the PostgreSQL store where a server is available."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from agents import RunStore, optimize, resume
from tasks.examples.numeric import NumericTask
from trace_core import Budget

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    from agents import optimize
    from tasks.examples.numeric import NumericTask
    from trace_core import Budget
    from tests.agents.test_loop import RandomOpt  # noqa
    optimize(NumericTask(delay={delay}), optimizer="search", budget=Budget(max_steps={steps}), k=2,
             store=sys.argv[1], name=sys.argv[2], seed=int(sys.argv[3]))
    """
)


def _spawn(db: Path, name: str, steps: int, delay: float, seed: int = 0) -> subprocess.Popen:
    code = SCRIPT.format(steps=steps, delay=delay)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, str(db), name, str(seed)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _committed(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sa.create_engine(f"sqlite:///{db}").connect() as c:
            return c.execute(sa.text("select count(*) from steps")).scalar() or 0
    except sa.exc.OperationalError:
        return 0


def test_sigkill_then_resume_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    proc = _spawn(db, "killme", steps=12, delay=0.05)
    deadline = time.monotonic() + 60
    while _committed(db) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = RunStore(db)
    (run,) = store.list_runs()
    assert run["status"] == "running"  # it never got to say otherwise
    before = [s["step"] for s in store.steps(run["id"])]
    assert before == list(range(len(before))) and len(before) >= 4
    result = resume(run["id"], store=store)
    assert result.stop_reason == "budget max_steps reached"
    steps = [s["step"] for s in store.steps(run["id"])]
    assert steps == list(range(13))
    cands = store.candidates(run["id"])
    keys = [(c["step"], c["idx"]) for c in cands]
    assert len(keys) == len(set(keys)) == 1 + 12 * 2
    assert store.get_run(run["id"])["status"] == "finished"
    # committed steps were not redone: their rows are unchanged
    assert [s["step"] for s in store.steps(run["id"])][: len(before)] == before


def test_resume_of_a_finished_run_does_nothing_more(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    result = optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=3), store=db)
    again = resume(result.run_id, store=db)
    assert again.stop_reason == "budget max_steps reached"
    assert len(RunStore(db).steps(result.run_id)) == 4


def test_two_workers_share_one_store(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    procs = [_spawn(db, f"worker{i}", steps=6, delay=0.01, seed=i) for i in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()[-2000:]
    store = RunStore(db)
    runs = store.list_runs()
    assert sorted(r["name"] for r in runs) == ["worker0", "worker1"]
    for r in runs:
        assert r["status"] == "finished"
        assert [s["step"] for s in store.steps(r["id"])] == list(range(7))


def test_postgresql_store(tmp_path: Path) -> None:
    from tests.conftest import postgres_url

    url = postgres_url()
    result = optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=3), store=url)
    store = RunStore(url)
    assert [s["step"] for s in store.steps(result.run_id)] == [0, 1, 2, 3]
    assert "postgres:" not in store.safe_url or "***" in store.safe_url
