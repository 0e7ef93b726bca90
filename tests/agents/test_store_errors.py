"""A run store that cannot be used is an error naming the store, exit 2, for every command:
a missing or unwritable folder, a file that is not a database, a truncated or corrupt one.
An empty file is a new store. Generated inputs: random bytes, truncations and damaged
pages of a real store."""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agents import RunStore, optimize
from agents.cli import app
from agents.store import StoreError
from tasks.examples.numeric import NumericTask
from tests.agents.test_cli import numeric_job
from trace_core import Budget

SETTINGS = settings(max_examples=int(os.environ.get("TRACETUNE_PROPERTY_EXAMPLES", "40")), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def commands(store: Path, tmp: Path, run_id: str = "abc") -> list[list[Any]]:
    """Every command that opens a store, pointed at ``store``."""
    job = numeric_job(tmp / "job.toml", steps=1)
    return [["list", "--store", store], ["show", run_id, "--store", store], ["report", run_id, "--store", store],
            ["export", run_id, "--store", store], ["resume", run_id, "--store", store],
            ["run", job, "--store", store, "--no-report"], ["chat", "--store", store, "--db", tmp / "chat.db"]]


def assert_refused(result: Any, where: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "cannot be used" in result.output and where in result.output, result.output


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The bytes of a store holding one finished run, checkpointed into its main file."""
    path = tmp_path_factory.mktemp("real") / "runs.db"
    run_id = optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=3), k=2, store=str(path)).run_id
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path, run_id


@pytest.mark.parametrize("case", ["missing folder", "not a database", "truncated", "folder"])
def test_every_command_refuses_an_unusable_store(tmp_path: Path, case: str, real_store: tuple[Path, str]) -> None:
    data, run_id = real_store[0].read_bytes(), real_store[1]
    if case == "missing folder":
        store = Path("/proc/nope/runs.db")  # the reproducer: a folder that cannot be made
    else:
        store = tmp_path / "runs.db"
        if case == "not a database":
            store.write_bytes(b"this is a text file, not a database\n" * 200)
        elif case == "truncated":
            store.write_bytes(data[: len(data) // 2])
        else:
            store.mkdir()
    for args in commands(store, tmp_path, run_id):
        assert_refused(invoke(*args), str(store))


def test_an_unwritable_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        assert_refused(invoke("list", "--store", folder / "runs.db"), "not writable")
    finally:
        folder.chmod(0o700)


def test_the_store_error_is_a_config_error_naming_the_store(tmp_path: Path) -> None:
    (tmp_path / "x.db").write_bytes(b"\0" * 4096)
    with pytest.raises(StoreError, match=r"x\.db cannot be used: the file is not an SQLite database"):
        RunStore(tmp_path / "x.db")


def test_a_corrupt_page_found_later_is_the_same_error(tmp_path: Path, real_store: tuple[Path, str]) -> None:
    """The header and size are right, a table's pages are garbage: SQLite notices when a
    query reads them, and the store says so with the same message."""
    data, run_id = real_store[0].read_bytes(), real_store[1]
    path = tmp_path / "runs.db"
    page = int.from_bytes(data[16:18], "big")
    path.write_bytes(data[:page] + b"\xff" * (len(data) - page))  # every page after the first is damaged
    results = [invoke(*args) for args in commands(path, tmp_path, run_id)]
    assert all(r.exit_code == 2 and "Traceback" not in r.output for r in results), [r.output for r in results]
    assert all("cannot be used" in r.output for r in results)


def test_an_empty_file_is_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.touch()  # `touch runs.db` names a store before its first run
    result = invoke("list", "--store", path)
    assert result.exit_code == 0 and "no runs" in result.output
    assert invoke("run", numeric_job(tmp_path / "job.toml", steps=1), "--store", path, "--no-report").exit_code == 0
    assert len(RunStore(path).list_runs()) == 1


@SETTINGS
@given(data=st.binary(min_size=1, max_size=5000))
def test_random_bytes_are_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / f"random-{uuid.uuid4().hex}.db"
    path.write_bytes(data)
    assert_refused(invoke("list", "--store", path), str(path))


@SETTINGS
@given(cut=st.floats(0, 1, exclude_max=True), command=st.sampled_from(["list", "show", "export", "report"]))
def test_truncations_of_a_real_store_are_refused(tmp_path: Path, real_store: tuple[Path, str], cut: float,
                                                 command: str) -> None:
    data, run_id = real_store[0].read_bytes(), real_store[1]
    path = tmp_path / f"cut-{uuid.uuid4().hex}.db"  # a new file: no connection of an earlier example knows it
    path.write_bytes(data[: int(len(data) * cut)])
    empty = path.stat().st_size == 0
    result = invoke(command, *([] if command == "list" else [run_id]), "--store", path)
    if empty:  # an empty file is a new store: no run in it
        assert result.exit_code in (0, 2) and "Traceback" not in result.output
    else:
        assert_refused(result, str(path))


@SETTINGS
@given(at=st.floats(0, 1, exclude_max=True), junk=st.binary(min_size=1, max_size=64),
       command=st.sampled_from(["list", "show", "export", "report", "resume"]))
def test_damaged_bytes_never_give_a_traceback(tmp_path: Path, real_store: tuple[Path, str], at: float, junk: bytes,
                                              command: str) -> None:
    """Damage anywhere: the command works (the damage missed what it reads) or says the
    store cannot be used; never a traceback."""
    data, run_id = real_store[0].read_bytes(), real_store[1]
    i = int(len(data) * at)
    path = tmp_path / f"damaged-{uuid.uuid4().hex}.db"
    path.write_bytes(data[:i] + junk + data[i + len(junk):])
    args = [command, *([] if command == "list" else [run_id]), "--store", path]
    if command == "resume":
        args.append("--no-report")
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2, 3), result.output


def test_a_damaged_schema_with_bytes_that_are_not_utf8_is_refused(tmp_path: Path, real_store: tuple[Path, str]) -> None:
    """SQLite quotes the damaged schema text in its message; invalid UTF-8 there once
    escaped as a UnicodeDecodeError."""
    data = real_store[0].read_bytes()
    at = data.find(b"NULL")
    path = tmp_path / "schema.db"
    path.write_bytes(data[:at] + b"\x80" + data[at + 1:])
    assert_refused(invoke("list", "--store", path), "malformed database schema")


def test_a_damaged_json_value_in_a_readable_row_is_a_store_error(tmp_path: Path) -> None:
    """Found by the damaged-bytes property: a NUL inside a run's stored config."""
    from tasks.examples.numeric import NumericTask
    from trace_core import Budget

    path = tmp_path / "runs.db"
    optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=1), store=RunStore(path))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET config = ?", ('{"a\x00": 1}',))
    result = CliRunner().invoke(app, ["list", "--store", str(path)], catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2 and "a stored value is damaged" in result.output and "Traceback" not in result.output
