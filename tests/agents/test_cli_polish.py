"""The first hour with `tracetune`: help, version, hints that work when followed, and
messages that say what to do (for a person at a terminal, not a Python caller)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agents import RunStore
from agents.cli import app
from agents.report import why_stopped
from tests.agents.test_cli import JOBS, invoke, numeric_job, run_id_of
from tests.agents.test_cli_signals import _tracetune, _wait_for_steps

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["run", "resume", "list", "show", "report", "export", "tasks", "chat"]


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"tracetune {version('tracetune')}"


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_shows_no_type_labels_and_is_not_cut_at_80_columns(command: str) -> None:
    args = [command, "--help"] if command else ["--help"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0
    options = [line for line in result.output.splitlines() if line.lstrip().startswith("-")]
    assert options and not [line for line in options if "<" in line], result.output  # no <int>, <bool>, <str>
    assert "…" not in result.output and "<bool>" not in result.output
    if command == "chat":  # every word of every option's help is there, wrapped, not cut
        text = " ".join(result.output.split())
        for words in ("Chat model (default $TRACETUNE_CHAT_LLM, then $TRACETUNE_LLM); scripted:FILE for tests.",
                      "Session file (default $TRACETUNE_CHAT_DB or .tracetune/chat.db).",
                      "Ask before a proposal is applied (kept with the session)."):
            assert words in text


@settings(max_examples=200, deadline=None)
@given(status=st.sampled_from(["running", "finished", "interrupted", "failed"]),
       reason=st.one_of(st.none(), st.sampled_from(["interrupted", "finished", "KeyboardInterrupt: ",
                                                     "target reached"]), st.text(max_size=30)))
def test_a_status_is_never_repeated_as_its_reason(status: str, reason: str | None) -> None:
    why = why_stopped({"status": status, "stop_reason": reason})
    assert why != status and f"{status}: {status}" not in f"{status}: {why}"


def test_an_interrupted_run_reads_interrupted_once(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "r.db")
    run_id = store.create_run(name="stopped", task="numeric", config={})
    store.update_run(run_id, status="interrupted", stop_reason="interrupted")
    for args in (("show", run_id), ("list",), ("report", run_id, "--html", tmp_path / "r.html")):
        out = invoke(*args, "--store", tmp_path / "r.db")
        assert out.exit_code == 0 and "interrupted: interrupted" not in out.output, out.output
        assert "stopped on request" in out.output
    assert "interrupted: interrupted" not in (tmp_path / "r.html").read_text()


def test_resume_of_a_finished_run_says_so_and_does_nothing(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    run_id = run_id_of(invoke("run", numeric_job(tmp_path / "job.toml", steps=2), "--store", db,
                              "--no-report").stdout)
    before = RunStore(db).steps(run_id)
    result = invoke("resume", run_id[:6], "--store", db)
    assert result.exit_code == 0, result.output
    assert "is finished (budget max_steps reached); nothing to resume" in result.output
    assert "resuming" not in result.output and RunStore(db).steps(run_id) == before


@settings(max_examples=25, deadline=None)
@given(ids=st.lists(st.text("0123ab", min_size=3, max_size=6), min_size=1, max_size=5, unique=True),
       prefix=st.text("0123ab", min_size=1, max_size=3))
def test_an_ambiguous_prefix_lists_the_matching_runs(tmp_path_factory: pytest.TempPathFactory, ids: list[str],
                                                     prefix: str) -> None:
    db = tmp_path_factory.mktemp("prefix") / "r.db"
    store = RunStore(db)
    for run_id in ids:
        store.create_run(name=f"job-{run_id}", task="numeric", config={}, run_id=run_id)
    matches = [i for i in ids if i.startswith(prefix)]
    result = invoke("show", prefix, "--store", db)
    if prefix in ids or len(matches) == 1:
        assert result.exit_code == 0 and (prefix if prefix in ids else matches[0]) in result.output
    elif not matches:
        assert result.exit_code == 2 and f"no run {prefix!r}" in result.output
    else:
        assert result.exit_code == 2 and f"is ambiguous: it starts {len(matches)} runs" in result.output
        assert all(re.search(rf"^  {m}  job-{m}  running", result.output, re.M) for m in matches)
    store.close()


@pytest.mark.parametrize("job", ["numeric", "code_repair", "prompt_qa"])
def test_a_job_that_needs_an_llm_names_the_offline_way_and_it_works(job: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACETUNE_LLM", raising=False)
    monkeypatch.chdir(ROOT)
    result = invoke("run", f"examples/jobs/{job}.toml", "--store", tmp_path / "r.db", "--no-report")
    assert result.exit_code == 2 and "pass llm=" not in result.output
    offline = re.search(r"--llm (scripted:\S+?);?(\s|$)", result.output).group(1)
    assert offline == f"scripted:examples/jobs/replies/{job}.json"
    assert ('optimizer = "search"' in result.output) == (job == "numeric")  # named only where Search can work
    followed = invoke("run", f"examples/jobs/{job}.toml", "--store", tmp_path / "r.db", "--no-report", "--llm", offline)
    assert followed.exit_code == 0, followed.output


def test_ctrl_c_hint_names_the_store_and_following_it_resumes(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "runs.db"
    db.parent.mkdir()
    job = numeric_job(tmp_path / "job.toml", name="stopped", steps=8, delay=0.05)
    proc = _tracetune("run", job, "--store", db, "--no-report", cwd=tmp_path)
    _wait_for_steps(db, proc, 2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    hint = re.search(r"continue with: (tracetune resume .+)$", (tmp_path / "out.txt").read_text(), re.M).group(1)
    assert f"--store {db.resolve()}" in hint
    other = tmp_path / "other"
    other.mkdir()
    cwd = Path.cwd()
    os.chdir(other)  # the hint works from any folder
    try:
        result = invoke(*hint.split()[1:], "--no-report")
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    assert RunStore(db).list_runs()[0]["status"] == "finished"


def test_a_refused_connection_is_not_called_http_500() -> None:
    """litellm gives every connection error status 500; no HTTP exchange happened."""
    import litellm

    from trace_core.llm import LLMConnectionError
    from trace_core.llm._litellm import to_llm_error

    refused = litellm.APIConnectionError(message="[Errno 111] Connection refused", llm_provider="openai", model="x")
    error = to_llm_error(refused, "openai/x")
    assert isinstance(error, LLMConnectionError) and error.status is None
    assert "HTTP" not in str(error) and "Connection refused" in str(error)


def test_the_loopback_server_prints_its_url_first_and_no_warning() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}
    proc = subprocess.Popen([sys.executable, "-m", "trace_core.testing.server"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1\n", proc.stdout.readline())
    finally:
        _, err = proc.communicate("", timeout=30)
    assert "Warning" not in err, err


def test_list_refuses_a_status_runs_never_have(tmp_path: Path) -> None:
    from tests.agents.test_cli import invoke

    refused = invoke("list", "--status", "finshed", "--store", tmp_path / "runs.db")
    assert refused.exit_code == 2
    assert "--status 'finshed': use one of running, finished, interrupted, failed" in refused.stderr
    assert invoke("list", "--status", "failed", "--store", tmp_path / "runs.db").exit_code == 0
