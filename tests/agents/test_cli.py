"""`tracetune` through typer's runner: every command, exit codes, warm start and regressions."""

from __future__ import annotations

import json
import re
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agents import RunStore
from agents.cli import app
from tasks import registry

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "examples" / "jobs"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def numeric_job(path: Path, *, name: str = "nightly", center: tuple[float, float] = (3.0, -1.5), steps: int = 4,
                start: tuple[float, float] = (0.0, 0.0), delay: float = 0.0, extra: str = "") -> Path:
    path.write_text(textwrap.dedent(f"""
        name = "{name}"
        k = 2
        {extra}
        [task]
        name = "numeric"
        options = {{ center = [{center[0]}, {center[1]}], start = [{start[0]}, {start[1]}], delay = {delay} }}
        [optimizer]
        name = "search"
        options = {{ sampler = "random" }}
        [budget]
        max_steps = {steps}
        """), encoding="utf-8")
    return path


def run_id_of(output: str) -> str:
    return re.search(r"^run ([0-9a-f]{12})", output, re.M).group(1)


FLOW = """
    from trace_core import Parameter, bundle
    from trace_core.spaces import Float

    K = Parameter(1.0, name="k", space=Float(0.0, 5.0))

    @bundle
    def scale(x, k):
        return x * k

    def workflow(x):
        return scale(x, K)
    """


def flow_module(folder: Path, more: str = "") -> str:
    """Write a workflow module (``workflow`` scaling by the parameter ``k``, plus ``more``)
    into ``folder`` under a fresh name, and return that name."""
    module = f"flow_{uuid.uuid4().hex[:8]}"
    (folder / f"{module}.py").write_text(textwrap.dedent(FLOW) + textwrap.dedent(more), encoding="utf-8")
    return module


def test_help_documents_the_commands_and_exit_codes() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for word in ("run", "resume", "list", "show", "report", "export", "tasks", "Exit codes"):
        assert word in result.output
    result = invoke("run", "--help")
    text = " ".join(result.output.split())
    for code in ("0 done", "1 the run failed", "2 usage error or invalid job file", "3 the budget ran out",
                 "4 regression flagged"):
        assert code in text
    assert invoke("run").exit_code == 2  # a usage error: JOB is missing


def test_run_prints_a_line_per_step_and_writes_the_report(tmp_path: Path) -> None:
    db, html = tmp_path / "runs.db", tmp_path / "out" / "{name}-{run_id}.html"
    result = invoke("run", numeric_job(tmp_path / "job.toml"), "--store", db, "--report", html)
    assert result.exit_code == 0, result.output
    run_id = run_id_of(result.stdout)
    lines = result.stdout.splitlines()
    assert [ln.split()[1] for ln in lines if ln.startswith("step ")] == ["0/4", "1/4", "2/4", "3/4", "4/4"]
    assert "finished: budget max_steps reached" in result.stdout
    report = tmp_path / "out" / f"nightly-{run_id}.html"
    assert f"report: {report}" in result.stdout and report.stat().st_size > 1000
    run = RunStore(db).get_run(run_id)
    assert run["job_key"] == "nightly" and run["config"]["job"]["name"] == "nightly"
    assert run["config"]["llm_model"] == "none"


def test_list_show_report_export(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    first = run_id_of(invoke("run", numeric_job(tmp_path / "a.toml", name="alpha"), "--store", db,
                             "--no-report").stdout)
    second = run_id_of(invoke("run", numeric_job(tmp_path / "b.toml", name="beta"), "--store", db,
                              "--no-report").stdout)
    listed = invoke("list", "--store", db, "--json")
    rows = json.loads(listed.stdout)
    assert {r["id"] for r in rows} == {first, second} and {r["status"] for r in rows} == {"finished"}
    assert [r["id"] for r in json.loads(invoke("list", "--store", db, "--json", "--job", "alpha").stdout)] == [first]
    table = invoke("list", "--store", db).stdout
    assert first in table and second in table and "beta" in table
    shown = invoke("show", first[:6], "--store", db)  # a unique prefix is enough
    assert shown.exit_code == 0 and "best so far" in shown.stdout and "alpha" in shown.stdout
    steps = json.loads(invoke("show", first, "--store", db, "--json").stdout)["steps"]
    assert [s["step"] for s in steps] == [0, 1, 2, 3, 4]
    best = RunStore(db).get_run(first)["best_values"]
    assert json.loads(invoke("export", first, "--store", db).stdout) == best
    assert json.loads(invoke("export", first, "--store", db, "--step", "0").stdout) == {"x": 0.0, "y": 0.0}
    invoke("export", first, "--store", db, "-o", tmp_path / "best.json")
    assert json.loads((tmp_path / "best.json").read_text()) == best
    rep = invoke("report", first, "--store", db, "--html", tmp_path / "r.html")
    assert rep.exit_code == 0 and f"run {first}" in rep.stdout and "score: starting values 11.25 → best" in rep.stdout
    assert "<svg" in (tmp_path / "r.html").read_text()
    for command in ("show", "report", "export", "resume"):
        missing = invoke(command, "ffffffffffff", "--store", db)
        assert missing.exit_code == 2 and "no run 'ffffffffffff'" in missing.stderr


def test_tasks_lists_parameters_and_survives_a_broken_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._REGISTRY, "broken_example", "json:loads")  # json.loads() needs an argument
    result = invoke("tasks", "numeric", "broken_example", "code_repair")
    assert result.exit_code == 0
    assert "numeric (minimize)" in result.stdout and "x: a number between -10 and 10" in result.stdout
    assert "broken_example: cannot be built: TypeError" in result.stdout
    assert "code_repair (maximize)" in result.stdout  # listed after the broken one
    infos = json.loads(invoke("tasks", "prompt_qa", "--json").stdout)
    assert infos[0]["parameters"][0]["name"] == "system_prompt"
    assert invoke("tasks", "no_such_task").exit_code == 2


def test_an_invalid_job_exits_2_listing_each_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('k = 0\n[task]\nname = "numerc"\n[budget]\nmax_stepz = 1\n', encoding="utf-8")
    result = invoke("run", bad, "--store", tmp_path / "r.db")
    assert result.exit_code == 2
    assert "3 problems" in result.stderr
    for field in ("k = 0", "task.name = 'numerc'", "budget.max_stepz"):
        assert field in result.stderr
    assert not (tmp_path / "r.db").exists() or RunStore(tmp_path / "r.db").list_runs() == []


def test_budget_out_before_target_exits_3_and_target_reached_exits_0(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    missed = invoke("run", numeric_job(tmp_path / "a.toml", steps=2, extra="target = -1.0"), "--store", db,
                    "--no-report")
    assert missed.exit_code == 3 and "before the target -1 was reached" in missed.stdout
    reached = invoke("run", numeric_job(tmp_path / "b.toml", steps=5, extra="target = 20.0"), "--store", db,
                     "--no-report")
    assert reached.exit_code == 0 and "finished: target reached" in reached.stdout


def test_a_crashing_run_exits_1_and_is_marked_failed(tmp_path: Path) -> None:
    module = flow_module(tmp_path, """
        from optimizers import Optimizer

        def feedback(example, output):
            return -abs(output - 2 * example)

        class Crashy(Optimizer):
            def propose(self, propagated=None, k=1):
                raise RuntimeError("the optimizer lost its marbles")
        """)
    job = tmp_path / "flow.toml"
    job.write_text(f'[task]\nworkflow = "{module}:workflow"\nfeedback = "{module}:feedback"\ntrain = [1, 2]\n'
                   f'[optimizer]\nname = "{module}:Crashy"\n[budget]\nmax_steps = 2\n', encoding="utf-8")
    result = invoke("run", job, "--store", tmp_path / "r.db", "--report", tmp_path / "failed.html")
    assert result.exit_code == 1
    assert "the run failed: RuntimeError: the optimizer lost its marbles" in result.stderr
    (run,) = RunStore(tmp_path / "r.db").list_runs()
    assert run["status"] == "failed" and run["initial_score"] == -1.5
    assert "failed" in result.stdout and (tmp_path / "failed.html").exists()


def test_warm_start_and_regression_across_nights(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    store = RunStore(db)
    first = invoke("run", numeric_job(tmp_path / "night1.toml", steps=10), "--store", db, "--no-report")
    assert first.exit_code == 0
    night1 = store.get_run(run_id_of(first.stdout))
    assert night1["best_score"] < night1["initial_score"]
    # a failed run of the same job in between is neither a warm start nor a baseline
    failed = store.create_run(name="nightly", task="numeric", config={}, job_key="nightly")
    store.update_run(failed, status="failed", best_score=-5.0, best_values={"x": 9.0, "y": 9.0})
    # the data moved overnight: last night's best values now score far worse (steps = 0: the
    # run only scores its starting values, so the comparison is exact)
    moved = numeric_job(tmp_path / "night2.toml", center=(8.0, 8.0), steps=0)
    second = invoke("run", moved, "--store", db, "--warm-start", "--fail-on-regression", "10", "--no-report")
    assert second.exit_code == 4, second.output
    night2 = store.get_run(run_id_of(second.stdout))
    assert store.candidates(night2["id"], step=0)[0]["values"] == night1["best_values"] == night2["best_values"]
    assert night2["config"]["warm_start_from"] == night1["id"] == night2["config"]["previous_run"]
    assert f"worse than run {night1['id']}" in second.stdout and "REGRESSION" in second.stdout
    # compared with night 2 now; a worse start without the flag (or with a generous one) is only reported
    worse = numeric_job(tmp_path / "night3.toml", center=(8.0, 8.0), start=(-10.0, -10.0), steps=0)
    third = invoke("run", worse, "--store", db, "--fail-on-regression", "1e9", "--no-report")
    assert third.exit_code == 0 and f"vs previous: worse than run {night2['id']}" in third.stdout
    night3 = store.get_run(run_id_of(third.stdout))
    assert night3["config"]["warm_start_from"] is None and night3["best_values"] == {"x": -10.0, "y": -10.0}
    # a warm start with nothing to start from says so and runs from the job's values
    lonely = invoke("run", numeric_job(tmp_path / "new.toml", name="brand_new", steps=1), "--store", db,
                    "--warm-start", "--no-report")
    assert lonely.exit_code == 0 and "no earlier finished run of this job" in lonely.stderr


@pytest.mark.parametrize("name", ["numeric", "prompt_qa", "code_repair"])
def test_example_jobs_run_with_a_scripted_llm(tmp_path: Path, name: str) -> None:
    replies = JOBS / "replies" / f"{name}.json"
    result = invoke("run", JOBS / f"{name}.toml", "--store", tmp_path / "r.db", "--llm", f"scripted:{replies}",
                    "--report", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert "finished: target reached" in result.stdout
    store = RunStore(tmp_path / "r.db")
    (run,) = store.list_runs()
    calls = store.llm_calls(run["id"])
    assert calls and calls[0]["model"] == "scripted" and "suggestion" in calls[0]["reply"]
    assert run["config"]["llm_model"] == "scripted"
    page = (tmp_path / "r.html").read_text()
    assert "LLM calls (" in page and 'class="node parameter"' in page


def test_demo_uses_optoprime_when_tracetune_llm_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    from trace_core.testing.server import openai_server

    # the demo job at a tiny size: same task and optimizer settings, a smaller budget
    job = tomllib.loads((JOBS / "demo.toml").read_text())
    assert job["task"]["name"] == "hpo" and job["optimizer"]["name"] == "default"
    small = tmp_path / "demo.toml"
    small.write_text(
        'name = "demo"\nk = 1\n[task]\nname = "hpo"\n'
        'options = { dataset = "digits", max_train = 200, initial = { epochs = 2, width = 16 } }\n'
        '[optimizer]\nname = "default"\n[budget]\nmax_steps = 2\n'
    )
    reply = json.dumps({"reasoning": "more epochs", "suggestion": {"epochs": 4}, "no_change": False})
    with openai_server(reply=reply) as server:
        monkeypatch.setenv("TRACETUNE_LLM", "openai/loopback-model")
        monkeypatch.setenv("TRACETUNE_LLM_API_BASE", server.url)
        result = invoke("run", small, "--store", tmp_path / "r.db", "--no-report")
        assert result.exit_code == 0, result.output
        assert server.requests and "learning curve" in json.dumps(server.requests[0]).lower()
    store = RunStore(tmp_path / "r.db")
    (run,) = store.list_runs()
    assert run["best_values"]["epochs"] in (2, 4) and run["config"]["llm_model"] == "openai/loopback-model"
    assert store.llm_calls(run["id"])[0]["model"].endswith("loopback-model")


def test_resume_uses_the_llm_the_run_started_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps({"rules": {"": [{"reasoning": "a", "suggestion": {"x": 1.0, "y": 0.0}},
                                                  {"reasoning": "b", "suggestion": {"x": 2.0, "y": -1.0}},
                                                  {"reasoning": "c", "suggestion": {"x": 3.0, "y": -1.5}}]}}))
    job = tmp_path / "job.toml"
    job.write_text('[task]\nname = "numeric"\n[optimizer]\nname = "optoprime"\n[budget]\nmax_steps = 3\n')
    db = tmp_path / "r.db"
    monkeypatch.chdir(tmp_path)
    first = invoke("run", job, "--store", db, "--llm", "scripted:replies.json", "--no-report")
    assert first.exit_code == 0, first.output
    run_id = run_id_of(first.stdout)
    store = RunStore(db)
    store.delete_steps_after(run_id, 1)  # as if it had been killed after step 1
    store.update_run(run_id, status="interrupted")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = invoke("resume", run_id, "--store", db, "--no-report")
    assert again.exit_code == 0, again.output
    calls = store.llm_calls(run_id)
    steps = [c["step"] for c in calls]  # step 2's first reply repeats step 1's values: it is challenged once
    assert steps.count(1) == 1 and sorted(set(steps)) == [1, 2, 3] and {c["model"] for c in calls} == {"scripted"}
    assert store.get_run(run_id)["status"] == "finished"
    assert [s["step"] for s in store.steps(run_id)] == [0, 1, 2, 3]


def test_the_run_reported_is_this_one_when_another_worker_runs_the_same_job(tmp_path: Path) -> None:
    module = flow_module(tmp_path, f"""
        from agents import RunStore

        def feedback(example, output):  # meanwhile another worker starts the same job on this store
            RunStore({str(tmp_path / "r.db")!r}).create_run(name="shared", task="x", config={{}}, job_key="shared")
            return -abs(output - 2 * example)
        """)
    job = tmp_path / "shared.toml"
    job.write_text(f'[task]\nworkflow = "{module}:workflow"\nfeedback = "{module}:feedback"\ntrain = [1]\n'
                   f'[optimizer]\nname = "search"\n[budget]\nmax_steps = 1\n', encoding="utf-8")
    result = invoke("run", job, "--store", tmp_path / "r.db", "--no-report")
    assert result.exit_code == 0, result.output
    store = RunStore(tmp_path / "r.db")
    ours = [r["id"] for r in store.list_runs(job_key="shared") if store.steps(r["id"])]
    assert len(ours) == 1 and run_id_of(result.stdout) == ours[0]
    assert re.findall(r"^run ([0-9a-f]{12})", result.stdout, re.M) == ours * 2  # first line and summary


def test_resuming_a_python_workflow_run_explains_how(tmp_path: Path) -> None:
    from agents import optimize
    from trace_core import Budget, Parameter, bundle
    from trace_core.spaces import Float

    k = Parameter(1.0, name="k", space=Float(0, 5))
    scale = bundle(lambda x: x * k.value)
    run = optimize(scale, feedback=lambda ex, out: -abs(out - 3), train=[1], optimizer="search",
                   budget=Budget(max_steps=3), store=tmp_path / "r.db", should_stop=lambda: True)
    result = invoke("resume", run.run_id, "--store", tmp_path / "r.db", "--no-report")
    assert result.exit_code == 2 and "agents.resume(run_id, task=" in result.stderr
    assert "continue with" not in result.stdout


def test_warm_start_skips_values_that_no_longer_fit_their_space(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    store = RunStore(db)
    last = store.create_run(name="narrow", task="numeric", config={}, job_key="narrow")
    store.update_run(last, status="finished", best_score=1.0, best_values={"x": 9.0, "y": 1.0})
    job = tmp_path / "narrow.toml"
    job.write_text('[task]\nname = "numeric"\noptions = { bound = 5.0 }\n[optimizer]\nname = "search"\n'
                   '[budget]\nmax_steps = 0\n', encoding="utf-8")
    result = invoke("run", job, "--store", db, "--warm-start", "--no-report")
    assert result.exit_code == 0, result.output
    assert f"ignoring x of run {last}" in result.stderr
    run = store.get_run(run_id_of(result.stdout))
    assert run["best_values"] == {"x": 0.0, "y": 1.0} and run["config"]["warm_start_from"] == last
