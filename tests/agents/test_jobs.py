"""Job files: TOML and YAML, every problem listed at once, keys refused, paths, user code."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from agents.jobs import Job, JobError, load_job, parse_job
from agents.workflow import WorkflowTask
from tests.agents.test_cli import flow_module

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "jobs").glob("*.toml"))


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_jobs_are_valid(path: Path) -> None:
    job = load_job(path)
    assert job.name == path.stem
    assert job.task.name in {"numeric", "prompt_qa", "code_repair", "hpo", "nas", "preference", "design3d"}
    assert any(v is not None for v in job.budget.model_dump().values())


def test_demo_runs_the_embedded_default_without_an_llm() -> None:
    job = load_job(ROOT / "examples" / "jobs" / "demo.toml")
    assert job.optimizer.spec() == {"name": "default"} and job.llm is None


def test_toml_and_yaml_give_the_same_job(tmp_path: Path) -> None:
    toml = _write(tmp_path / "nightly.toml", """
        k = 2
        seed = 3
        target = 0.5
        [task]
        name = "numeric"
        options = { center = [1.0, 2.0] }
        [optimizer]
        name = "search"
        options = { sampler = "random" }
        [budget]
        max_steps = 4
        max_seconds = 60
        """)
    yaml = _write(tmp_path / "nightly.yaml", """
        k: 2
        seed: 3
        target: 0.5
        task: {name: numeric, options: {center: [1.0, 2.0]}}
        optimizer: {name: search, options: {sampler: random}}
        budget: {max_steps: 4, max_seconds: 60}
        """)
    a, b = load_job(toml), load_job(yaml)
    assert a.model_dump() == b.model_dump()
    assert a.name == "nightly" and a.k == 2 and a.optimizer.spec() == {"name": "search", "sampler": "random"}
    assert a.make_budget().max_seconds == 60


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.toml", """
        k = 0
        executor = "gpu"
        colour = "blue"
        [task]
        name = "numeric"
        options = { centre = [1, 2] }
        [optimizer]
        name = "adam"
        [budget]
        max_stepz = 5
        max_usd = -1
        """)
    with pytest.raises(JobError) as info:
        load_job(path)
    problems = info.value.problems
    text = str(info.value)
    assert "bad.toml" in text and f"({len(problems)} problems)" in text
    expected = {
        "k = 0": "greater than or equal to 1",
        "executor = 'gpu'": "use one of process, ray, serial, thread",
        "colour = 'blue'": "allowed here: name, description, task",
        "optimizer.name = 'adam'": "default, evolution, opro, optoprime, search",
        "budget.max_stepz = 5": "allowed here: max_steps, max_evaluations",
        "budget.max_usd = -1": "greater than or equal to 0",
        "task.options.centre": "allowed: center, start, bound, delay",
    }
    assert len(problems) == len(expected), problems
    for start, allowed in expected.items():
        (line,) = [p for p in problems if p.startswith(start)]
        assert allowed in line


def test_missing_and_malformed_files_are_job_errors(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="no such file"):
        load_job(tmp_path / "absent.toml")
    with pytest.raises(JobError, match="not valid TOML"):
        load_job(_write(tmp_path / "broken.toml", "name = \n"))
    with pytest.raises(JobError, match="unknown job file type"):
        load_job(_write(tmp_path / "job.ini", "[task]\n"))
    with pytest.raises(JobError) as info:
        parse_job({"name": "x", "task": {"name": "no_such_task"}})
    assert "registered: " in str(info.value) and "numeric" in str(info.value)
    with pytest.raises(JobError, match="either 'name'"):
        parse_job({"name": "x", "task": {"options": {}}})


def test_keys_in_the_file_are_refused_and_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-9f8e7d6c5b4a")
    path = _write(tmp_path / "leaky.toml", """
        [task]
        name = "numeric"
        [llm]
        model = "openai/gpt-4o-mini"
        api_key = "sk-live-0123456789abcdef"
        [llm.params]
        extra_headers = { Authorization = "Bearer abc.def.ghi" }
        [optimizer]
        name = "optoprime"
        options = { note = "tok-9f8e7d6c5b4a" }
        [budget]
        max_steps = 1
        """)
    with pytest.raises(JobError) as info:
        load_job(path)
    text = str(info.value)
    for secret in ("sk-live-0123456789abcdef", "abc.def.ghi", "tok-9f8e7d6c5b4a"):
        assert secret not in text
    assert {p.split(":")[0] for p in info.value.problems} == {"llm.api_key", "llm.params.extra_headers",
                                                               "optimizer.options.note"}
    assert "TRACETUNE_LLM_API_KEY" in text and "environment" in text


def test_relative_paths_are_relative_to_the_job_file(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "replies.json").write_text(json.dumps(["{}"]), encoding="utf-8")
    job = load_job(_write(tmp_path / "jobs" / "j.toml", """
        store = "state/runs.db"
        report = "reports/{name}-{date}.html"
        [task]
        name = "numeric"
        [llm]
        model = "scripted:replies.json"
        [budget]
        max_steps = 1
        """))
    jobs = (tmp_path / "jobs").resolve()
    assert job.store == str(jobs / "state" / "runs.db")
    assert job.report == str(jobs / "reports" / "{name}-{date}.html")
    assert job.llm is not None and job.llm.model == f"scripted:{jobs / 'replies.json'}"
    assert job.llm.build().complete("hi").text == "{}"
    assert parse_job({"name": "u", "task": {"name": "numeric"}, "store": "postgresql+psycopg://h/db"}).store == (
        "postgresql+psycopg://h/db")


def test_scripted_replies_must_exist_and_parse(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("[1, 2", encoding="utf-8")
    for model, message in (("scripted:nope.json", "no scripted replies file"),
                           ("scripted:bad.json", "not valid JSON"), ("replay:nope.jsonl", "no recording")):
        with pytest.raises(JobError, match=message):
            parse_job({"name": "x", "task": {"name": "numeric"}, "llm": model}, base_dir=tmp_path)


def test_budget_needs_a_limit_and_defaults_to_ten_steps() -> None:
    assert parse_job({"name": "x", "task": {"name": "numeric"}}).budget.max_steps == 10
    with pytest.raises(JobError, match="at least one limit"):
        parse_job({"name": "x", "task": {"name": "numeric"}, "budget": {}})


def test_workflow_next_to_the_job_file_with_data_from_jsonl(tmp_path: Path) -> None:
    module = flow_module(tmp_path, """
        def feedback(example, output):
            return -abs(output - 2 * example)
        """)
    (tmp_path / "train.jsonl").write_text("1\n2\n3\n", encoding="utf-8")
    job = load_job(_write(tmp_path / "flow.toml", f"""
        [task]
        workflow = "{module}:workflow"
        feedback = "{module}:feedback"
        train = "train.jsonl"
        val = [4]
        """))
    task = job.build_task()
    assert isinstance(task, WorkflowTask)
    assert list(task.train) == [1, 2, 3] and list(task.val) == [4]
    assert [p.name for p in task.parameters()] == ["k"]
    assert task.evaluate(4, task.run(4)).score == -4.0
    with pytest.raises(JobError) as info:
        parse_job({"name": "x", "task": {"workflow": f"{module}:nothing", "feedback": "no_such_module_x:f",
                                         "train": "missing.jsonl"}}, base_dir=tmp_path)
    problems = info.value.problems
    assert [p.split(" ")[0] for p in problems] == ["task.workflow", "task.feedback", "task.train:"]


def test_optimizer_shorthand_and_custom_classes() -> None:
    job = parse_job({"name": "x", "task": {"name": "numeric"}, "optimizer": "search:random"})
    assert job.optimizer.spec() == {"name": "search", "sampler": "random"} and not job.optimizer.custom
    custom = parse_job({"name": "x", "task": {"name": "numeric"},
                        "optimizer": {"name": "optimizers.search:Search", "options": {"sampler": "random"}}})
    task = custom.build_task()
    opt = custom.build_optimizer(task, llm=None)
    assert type(opt).__name__ == "Search" and set(opt.by_name) == {"x", "y"}


def test_the_stored_job_rebuilds_the_same_job(tmp_path: Path) -> None:
    job = parse_job({"name": "x", "task": {"name": "numeric", "options": {"delay": 0.0}}, "store": "r.db"},
                    base_dir=tmp_path)
    again = Job.model_validate(job.stored(), context={"base_dir": job.base_dir})
    assert again.model_dump() == job.model_dump()


@pytest.mark.parametrize("name", ["agents.jobs", "agents.report", "agents._report_svg"])
def test_docstring_examples_run(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
