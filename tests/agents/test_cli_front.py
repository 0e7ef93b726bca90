"""`tracetune` on multi-objective runs: objectives set in a job file, the front in
`show` and `export --front`, and the warm start and regression check by hypervolume."""

from __future__ import annotations

import csv
import io
import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from agents import RunStore
from tests.agents.test_cli import invoke, run_id_of
from tests.agents.test_job_validation import refused

FLOW = """
    from trace_core import Feedback, Parameter, bundle
    from trace_core.spaces import Float

    X = Parameter(0.5, name="x", space=Float(0.0, 1.0))
    Y = Parameter(0.5, name="y", space=Float(-1.0, 1.0))
    SHIFT = {shift}

    @bundle
    def pair(x, y):
        return [x + SHIFT, (1 - x) ** 2 + y * y + SHIFT]

    def workflow():
        return pair(X, Y)

    def feedback(example, output):
        f1, f2 = output
        return Feedback(score=f1, metrics={{"f1": f1, "f2": f2}})
"""


def mo_job(folder: Path, *, name: str = "pareto", steps: int = 6, shift: float = 0.0, evaluate_start: bool = False,
           task_extra: str = "") -> Path:
    module = f"mo_{uuid.uuid4().hex[:8]}"
    (folder / f"{module}.py").write_text(textwrap.dedent(FLOW.format(shift=shift)), encoding="utf-8")
    path = folder / f"{name}-{module}.toml"
    path.write_text(textwrap.dedent(f"""
        name = "{name}"
        k = 2
        evaluate_start = {str(evaluate_start).lower()}
        [task]
        workflow = "{module}:workflow"
        feedback = "{module}:feedback"
        objectives = {{ f1 = "minimize", f2 = "minimize" }}
        {task_extra}
        [optimizer]
        name = "search"
        options = {{ sampler = "nsga2" }}
        [budget]
        max_steps = {steps}
        """), encoding="utf-8")
    return path


def _ran(result: Any) -> str:
    assert result.exit_code == 0, result.output
    return run_id_of(result.stdout)


def test_a_job_file_makes_a_workflow_multi_objective_and_show_lists_its_front(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    ran = invoke("run", mo_job(tmp_path, task_extra='constraints = ["f1 <= 0.9"]'), "--store", db, "--no-report")
    run_id = _ran(ran)
    store = RunStore(db)
    front = store.front(run_id)
    assert f"front {len(front['members'])} (hypervolume {front['hypervolume']:.6g})" in ran.stdout  # the last step
    assert front["members"] and all(m["objectives"][0] <= 0.9 for m in front["members"])
    assert store.get_run(run_id)["config"]["objectives"]["names"] == ["f1", "f2"]
    shown = invoke("show", run_id, "--store", db)
    assert shown.exit_code == 0
    text = shown.stdout
    assert f"front after step {front['step']}: {len(front['members'])} candidates, hypervolume" in text
    assert "objectives f1 (minimize), f2 (minimize); constraints f1 <= 0.9" in text
    for m in front["members"]:
        assert f"x={m['values']['x']:.6g}" in text
    as_json = json.loads(invoke("show", run_id, "--store", db, "--json").stdout)
    assert [(m["step"], m["candidate"]) for m in as_json["front"]["members"]] == \
        [(m["step"], m["candidate"]) for m in front["members"]]
    assert len(as_json["fronts"]) == len(store.steps(run_id))


def test_export_front_as_json_and_csv(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run_id = _ran(invoke("run", mo_job(tmp_path), "--store", db, "--no-report"))
    front = RunStore(db).front(run_id)
    data = json.loads(invoke("export", run_id, "--store", db, "--front").stdout)
    assert data["objectives"] == {"f1": "minimize", "f2": "minimize"}
    assert data["hypervolume"] == pytest.approx(front["hypervolume"])
    assert [m["values"] for m in data["members"]] == [m["values"] for m in front["members"]]
    out = tmp_path / "front.csv"
    assert invoke("export", run_id, "--store", db, "--front", "--format", "csv", "-o", out).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["step", "candidate", "f1", "f2", "x", "y"]
    assert [(float(r["f1"]), float(r["x"])) for r in rows] == \
        [(m["objectives"][0], m["values"]["x"]) for m in front["members"]]  # exact, not rounded
    first = json.loads(invoke("export", run_id, "--store", db, "--front", "--step", "1").stdout)
    assert first["step"] == 1 and {m["step"] for m in first["members"]} <= {1}


def test_export_front_is_refused_for_one_objective_and_csv_without_front(tmp_path: Path) -> None:
    from tests.agents.test_cli import numeric_job

    db = tmp_path / "runs.db"
    run_id = _ran(invoke("run", numeric_job(tmp_path / "job.toml", steps=1), "--store", db, "--no-report"))
    refused_front = invoke("export", run_id, "--store", db, "--front")
    assert refused_front.exit_code == 2 and "has one objective, so it keeps no front" in refused_front.stderr
    no_csv = invoke("export", run_id, "--store", db, "--format", "csv")
    assert no_csv.exit_code == 2 and "csv with --front" in no_csv.stderr
    shown = invoke("show", run_id, "--store", db).stdout
    assert "front after step" not in shown and "hypervolume" not in shown


def test_warm_start_from_a_front_and_regression_by_hypervolume(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    store = RunStore(db)
    night1 = _ran(invoke("run", mo_job(tmp_path, steps=8), "--store", db, "--no-report"))
    # every objective a whole unit worse overnight (steps = 0: only the warm start is scored)
    worse = mo_job(tmp_path, steps=0, shift=1.0, evaluate_start=True)
    second = invoke("run", worse, "--store", db, "--warm-start", "--fail-on-regression", "10", "--no-report")
    assert second.exit_code == 4, second.output
    night2 = store.get_run(run_id_of(second.stdout))
    assert f"worse than run {night1}" in second.stdout and "hypervolume" in second.stdout
    # the warm start began at the member of night 1's front with the largest exclusive hypervolume
    member = night2["config"]["warm_start_member"]
    front1 = store.front(night1)
    chosen = next(m for m in front1["members"] if [m["step"], m["candidate"]] == list(member))
    assert store.candidates(night2["id"], step=0)[0]["values"] == chosen["values"]
    assert f"warm start: from run {night1}'s front" in second.stdout
    # a generous threshold only reports it
    third = invoke("run", worse, "--store", db, "--fail-on-regression", "1e9", "--no-report")
    assert third.exit_code == 0 and "vs previous: " in third.stdout


@pytest.mark.parametrize("task_extra, problem", [
    ('objectives = {}', "task.objectives: name at least one metric"),
    ('constraints = ["f1 = 3"]', "constraint 'f1 = 3' is not 'metric >= number'"),
    ('reference_point = [1.0]', "task.reference_point = [1.0]: give 2 numbers, one per objective (f1, f2)"),
    ('reference_point = { f1 = 1.0, speed = 2.0 }', "missing f2; not an objective: speed"),
])
def test_invalid_objectives_in_a_job_file_are_listed(tmp_path: Path, task_extra: str, problem: str) -> None:
    job = mo_job(tmp_path, task_extra=task_extra)
    if task_extra.startswith("objectives"):
        job.write_text(job.read_text().replace('objectives = { f1 = "minimize", f2 = "minimize" }\n', ""))
    err = refused(tmp_path, "bad.toml", job.read_text())
    assert problem in " ".join(err.split())


def test_constraints_without_objectives_say_what_to_add(tmp_path: Path) -> None:
    err = refused(tmp_path, "job.toml", """
        name = "numeric-constrained"
        [task]
        name = "numeric"
        constraints = ["f <= 3"]
        [budget]
        max_steps = 1
        """)
    assert "task.constraints: the task has no objectives; add task.objectives" in err


def test_objectives_on_a_registered_task_make_its_run_keep_a_front(tmp_path: Path) -> None:
    job = tmp_path / "numeric.toml"
    job.write_text(textwrap.dedent("""
        name = "numeric-front"
        [task]
        name = "numeric"
        objectives = { f = "minimize" }
        constraints = ["f <= 50"]
        reference_point = [100.0]
        [optimizer]
        name = "search"
        options = { sampler = "random" }
        [budget]
        max_steps = 3
        """), encoding="utf-8")
    db = tmp_path / "runs.db"
    run_id = _ran(invoke("run", job, "--store", db, "--no-report"))
    store = RunStore(db)
    assert store.get_run(run_id)["config"]["task"]["reference_point"] == [100.0]
    assert {tuple(f["reference"]) for f in store.fronts(run_id)} == {(100.0,)}
    assert all(m["objectives"][0] <= 50 for m in store.front(run_id)["members"])


def test_the_html_report_of_a_two_objective_run_shows_its_front(tmp_path: Path) -> None:
    db, html = tmp_path / "runs.db", tmp_path / "report.html"
    run_id = _ran(invoke("run", mo_job(tmp_path), "--store", db, "--report", html))
    front = RunStore(db).front(run_id)
    page = html.read_text(encoding="utf-8")
    assert f"<h2>Front ({len(front['members'])} candidates, hypervolume {front['hypervolume']:.6g})</h2>" in page
    main = page.split('<section id="front">', 1)[1].split("<svg", 2)[1]  # the scatter of the last front
    assert main.count('class="front-pt mark"') == len(front["members"])
    assert main.count("<circle") == len(RunStore(db).candidates(run_id)) - 1  # all but the unscored step 0


def test_front_csv_defuses_formulas_and_keeps_columns_apart() -> None:
    from agents._cli_front import front_text

    front = {"objectives": {"step": "maximize", "f2": "minimize"}, "members": [
        {"step": 1, "candidate": 0, "objectives": {"step": -0.5, "f2": 2.0},
         "values": {"prompt": "=HYPERLINK(\"http://x\")", "note": "-1+1", "plain": "é ok", "n": -3, "step": "@SUM(A1)"}}]}
    rows = list(csv.reader(io.StringIO(front_text(front, "csv"))))
    assert rows[0] == ["step", "candidate", "objective.step", "f2", "prompt", "note", "plain", "n", "param.step"]
    assert rows[1] == ["1", "0", "-0.5", "2.0", "'=HYPERLINK(\"http://x\")", "'-1+1", "é ok", "-3", "'@SUM(A1)"]


BRACKETS = """
    from trace_core import Feedback, Parameter, bundle
    from trace_core.spaces import Float, Text

    X = Parameter(0.5, name="x", space=Float(0.0, 1.0))
    TAG = Parameter("[/INST] é", name="[bold]tag", space=Text())  # Search keeps text as it is

    @bundle
    def pair(x, tag):
        return x

    def workflow():
        return pair(X, TAG)

    def feedback(example, output):
        return Feedback(score=output, metrics={"[/acc]": output, "size": (1 - output) ** 2})
"""


def test_show_and_list_print_brackets_in_names_and_values_as_text(tmp_path: Path) -> None:
    module = f"br_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(BRACKETS), encoding="utf-8")
    job = tmp_path / "brackets.toml"
    job.write_text(textwrap.dedent(f"""
        name = "[/job]"
        [task]
        workflow = "{module}:workflow"
        feedback = "{module}:feedback"
        objectives = {{ "[/acc]" = "minimize", size = "minimize" }}
        [optimizer]
        name = "search"
        [budget]
        max_steps = 2
        """), encoding="utf-8")
    db = tmp_path / "runs.db"
    run_id = _ran(invoke("run", job, "--store", db, "--no-report"))
    shown = invoke("show", run_id, "--store", db)
    assert shown.exit_code == 0, shown.output
    assert "objectives [/acc] (minimize), size (minimize)" in shown.stdout
    assert " [bold]tag  [/INST] é" in shown.stdout
    listed = invoke("list", "--store", db)
    assert listed.exit_code == 0 and "[/job]" in listed.stdout
