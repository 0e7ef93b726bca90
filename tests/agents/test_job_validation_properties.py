"""Property tests over the job schema: hostile job files (random values where settings go,
wrong types, huge numbers, NaN and infinities, odd unicode, random bytes) in TOML, YAML and
JSON. Whatever a file holds, loading it gives a Job or a JobError, and ``tracetune run``
exits 1 or 2 (the run itself is replaced: these tests are about checking, not running),
never with a traceback and never hanging."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import agents._cli_run as cli_run
import agents.cli as cli
from agents.jobs import Job, JobError, load_job
from tasks.registry import task_class, task_names
from trace_core import Budget

SETTINGS = settings(max_examples=int(os.environ.get("TRACETUNE_PROPERTY_EXAMPLES", "60")), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
GUARD_SECONDS = 60  # a hang guard, far above what one example takes


@contextlib.contextmanager
def no_hang(seconds: int = GUARD_SECONDS) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the body runs past ``seconds``."""

    def stop(*_: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # any unicode but lone surrogates
words = st.sampled_from(["numeric", "hpo", "nas", "search", "search:cmaes", "default", "optoprime", "digits",
                         "mnist", "thread", "process", "gpu", "http://user:pw@host/v1", "sk-" + "a" * 40,
                         "scripted:missing.json", "os:getcwd", "json:loads", "", "\u202e\u0000", "../../etc"])
numbers = st.one_of(st.integers(), st.integers(min_value=-(2**80), max_value=2**80),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 1, 2**32, 2**63 - 1]))
leaf = st.one_of(st.none(), st.booleans(), numbers, text, words)
value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text | words, inner, max_size=3),
                     max_leaves=8)


def table(names: list[str]) -> Any:
    """A mapping with some of ``names`` (and sometimes an unknown key) set to hostile values."""
    return st.dictionaries(st.sampled_from(names) | text, value, max_size=len(names) // 2 + 2)


option_names = sorted({n for name in task_names() for n in task_class(name).Options.model_fields})
task = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(task_names()) | value, "options": table(option_names) | value,
    "workflow": words | value, "feedback": words | value, "train": value, "direction": value})
job = st.fixed_dictionaries({}, optional={
    "name": text | value, "task": task | value, "budget": table(list(Budget.model_fields)) | value,
    "optimizer": st.fixed_dictionaries({}, optional={"name": words | value, "options": table(
        ["sampler", "population", "memory", "seed", "token_budget", "pruner", "bogus"]) | value}) | words,
    "llm": table(["model", "api_base", "timeout", "params", "api_key", "max_concurrency"]) | words,
    **{k: value | numbers for k in ("k", "seed", "target", "timeout", "workers", "minibatch", "executor",
                                    "warm_start", "fail_on_regression", "report", "store", "description")},
})

VALID = {"task": {"name": "numeric"}, "budget": {"max_steps": 1}}


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, change in changes.items():
        out[key] = _merge(out[key], change) if isinstance(out.get(key), dict) and isinstance(change, dict) else change
    return out


# a valid job with one or two settings replaced: most files a user writes are nearly right
near_valid = st.dictionaries(st.sampled_from(sorted(job.wrapped_strategy.optional)), value, min_size=1, max_size=2) \
    .map(lambda changes: _merge(VALID, changes)) | st.just(VALID)
jobs = job | near_valid | st.fixed_dictionaries({"task": task}).map(lambda t: _merge(VALID, t))


def to_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for the generated values (TOML has no null: None is left out)."""

    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v if x is not None) + "]"
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {val(x)}" for k, x in v.items()
                               if x is not None) + "}"

    return "".join(f"{json.dumps(str(k), ensure_ascii=False)} = {val(v)}\n" for k, v in data.items() if v is not None)


def write(folder: Path, data: Any, fmt: str) -> Path:
    path = folder / f"job.{fmt}"
    if fmt == "toml":
        path.write_text(to_toml(data if isinstance(data, dict) else {"value": data}), encoding="utf-8")
    elif fmt == "yaml":
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    else:
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def stub_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the run (and the building of anything but cheap tasks): a valid job exits 1 here."""
    ran: list[str] = []
    real_build = cli_run.build  # `tracetune run` imports it when it runs

    def build(job: Job, llm: Any) -> Any:
        if job.task.name in ("numeric", "code_repair") and job.llm is None:
            real_build(job, None)
        return None, None, None

    def optimize(job: Job, *_: Any, **__: Any) -> str:
        ran.append(job.name)
        raise RuntimeError("not run in this test")

    monkeypatch.setattr(cli_run, "build", build)
    monkeypatch.setattr(cli, "_optimize", optimize)
    return ran


def check_cli(path: Path, store: Path, ran: list[str]) -> None:
    before = len(ran)
    with no_hang():
        result = CliRunner().invoke(cli.app, ["run", str(path), "--store", str(store), "--no-report"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output + result.stderr
    assert result.exit_code in (1, 2), result.output + result.stderr
    if result.exit_code == 2:
        assert result.stderr.startswith("error: ") and len(ran) == before  # refused: nothing ran
    else:
        assert len(ran) == before + 1  # accepted: it got as far as the run
    for secret in ("user:pw", "sk-" + "a" * 40):
        assert secret not in result.output + result.stderr


@SETTINGS
@given(data=jobs, fmt=st.sampled_from(["toml", "yaml", "json"]))
def test_any_job_file_loads_or_lists_its_problems(tmp_path: Path, data: dict[str, Any], fmt: str) -> None:
    path = write(tmp_path, data, fmt)
    with no_hang():
        try:
            loaded = load_job(path)
        except JobError as e:
            assert e.problems and all(isinstance(p, str) and p for p in e.problems)
            return
    assert loaded.seed >= 0 and (loaded.target is None or math.isfinite(loaded.target))
    assert all(v is None or math.isfinite(v) for v in loaded.budget.model_dump().values())
    json.dumps(loaded.stored())  # what the run store keeps is plain JSON


@SETTINGS
@given(data=jobs, fmt=st.sampled_from(["toml", "yaml", "json"]))
def test_tracetune_run_exits_1_or_2_without_a_traceback(tmp_path: Path, stub_run: list[str], data: dict[str, Any],
                                                        fmt: str) -> None:
    check_cli(write(tmp_path, data, fmt), tmp_path / "runs.db", stub_run)


@SETTINGS
@given(content=st.binary(max_size=300) | text.map(lambda s: s.encode("utf-8")),
       fmt=st.sampled_from(["toml", "yaml", "yml", "json"]))
def test_any_bytes_give_a_job_or_a_job_error(tmp_path: Path, stub_run: list[str], content: bytes, fmt: str) -> None:
    path = tmp_path / f"job.{fmt}"
    path.write_bytes(content)
    check_cli(path, tmp_path / "runs.db", stub_run)
