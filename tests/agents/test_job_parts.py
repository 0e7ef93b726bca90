"""Parts of a job checked on their own: when the job as a whole is invalid, its LLM is
still checked with paths relative to the job file, and every problem is listed; the
messages name the source and the type; the stored job hides a store password; a custom
optimizer receives the run's LLM."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agents.jobs import JobError, parse_job
from trace_core.errors import ConfigError
from trace_core.llm import ScriptedLLM


def _problems(data, **kw) -> list[str]:
    with pytest.raises(JobError) as e:
        parse_job(data, **kw)
    return e.value.problems


def test_a_job_that_is_not_a_table_names_its_type_and_the_default_source():
    with pytest.raises(JobError) as e:
        parse_job([1, 2])  # type: ignore[arg-type]
    assert e.value.problems == ["(top level): expected a table of settings, got list"]
    assert str(e.value).startswith("invalid job file <job> (1 problem):")


def test_the_llm_of_an_invalid_job_is_checked_relative_to_the_job_folder(tmp_path: Path):
    (tmp_path / "replies.json").write_text(json.dumps(["a"]), "utf-8")
    job = {"name": "x", "task": {"name": "numeric"}, "k": 0, "llm": "scripted:replies.json"}
    problems = _problems(job, base_dir=tmp_path)
    assert [p.split(" ")[0] for p in problems] == ["k"]  # the replies file next to the job is found


def test_a_broken_llm_is_listed_with_the_other_problems_of_an_invalid_job(tmp_path: Path):
    job = {"name": "x", "task": {"name": "numeric"}, "k": 0, "llm": "scripted:missing.json"}
    problems = _problems(job, base_dir=tmp_path)
    assert problems[0].startswith("k = 0:")
    assert any(p.startswith("llm.model: no scripted replies file") and "missing.json" in p for p in problems)
    assert len(problems) == 2


def test_a_dollar_limit_on_a_model_of_unknown_price_is_a_problem_when_it_is_the_only_limit():
    job = {"name": "x", "task": {"name": "numeric"}, "llm": "openai/no-such-model-xyz", "budget": {"max_usd": 1}}
    (problem,) = _problems(job)
    assert "the price of 'openai/no-such-model-xyz' is unknown" in problem and problem.startswith("budget.max_usd = 1")


def test_a_workflow_task_spec_keeps_its_direction():
    job = parse_job({"name": "x", "task": {"workflow": "json:loads", "feedback": "json:dumps", "train": [1],
                                           "direction": "minimize"}})
    spec = job.task.spec()
    assert spec["direction"] == "minimize" and spec["train"] == [1] and spec["val"] is None


def test_the_stored_job_hides_the_password_of_a_store_url_and_keeps_a_file_store(tmp_path: Path):
    url = parse_job({"name": "x", "task": {"name": "numeric"}, "store": "postgresql://me:s3cret@db.example/runs"})
    assert url.stored()["store"] == "postgresql://me:***@db.example/runs"
    assert "s3cret" not in json.dumps(url.stored())
    local = parse_job({"name": "x", "task": {"name": "numeric"}, "store": "runs.db"}, base_dir=tmp_path)
    assert local.stored()["store"] == str(tmp_path.resolve() / "runs.db")


def test_a_custom_optimizer_that_takes_an_llm_receives_the_runs_llm():
    job = parse_job({"name": "x", "task": {"name": "numeric"}, "optimizer": "optimizers.optoprime:OptoPrime"})
    task = job.build_task()
    llm = ScriptedLLM([])
    assert job.build_optimizer(task, llm).llm is llm
    for missing in (None, "openai/gpt-4o-mini"):  # no LLM object: the class is told nothing
        with pytest.raises(ConfigError, match="missing 1 required positional argument: 'llm'"):
            job.build_optimizer(task, missing)


def test_a_job_without_a_name_is_told_the_name_is_required():
    (problem,) = _problems({"task": {"name": "numeric"}})
    assert problem.startswith("name") and "required" in problem.lower()
    assert parse_job({"task": {"name": "numeric"}}, default_name="nightly").name == "nightly"


def test_the_job_folder_is_kept_resolved_and_put_first_on_the_import_path(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    job = parse_job({"name": "x", "task": {"name": "numeric"}}, base_dir=tmp_path)
    assert job.base_dir == str(tmp_path.resolve())
    job.importable()
    job.importable()
    assert sys.path[0] == job.base_dir and sys.path.count(job.base_dir) == 1


def test_a_workflow_job_puts_its_folder_on_the_import_path_once(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    data = {"name": "x", "task": {"workflow": "json:loads", "feedback": "json:dumps", "train": [1]}}
    parse_job(data, base_dir=tmp_path)
    parse_job(data, base_dir=tmp_path)
    assert sys.path.count(str(tmp_path.resolve())) == 1


def test_the_task_of_an_invalid_job_is_checked_relative_to_the_job_folder(tmp_path: Path):
    (tmp_path / "train.jsonl").write_text('{"x": 1}\n', "utf-8")
    task = {"workflow": "json:loads", "feedback": "json:dumps", "train": "train.jsonl"}
    problems = _problems({"name": "x", "task": task, "k": 0}, base_dir=tmp_path)
    assert [p.split(" ")[0] for p in problems] == ["k"]  # the data file next to the job is found
