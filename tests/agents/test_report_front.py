"""The front of a multi-objective run in its report: computed from the stored candidates,
drawn as a scatter (two objectives) or parallel coordinates (more), hypervolume per step."""

from __future__ import annotations

import json
import re

import pytest

from agents import RunStore, optimize
from agents._report_front import front_history, front_section
from agents.report import RunReport
from tasks.base import BaseTask
from trace_core import Budget, Feedback, Parameter, bundle, hypervolume, non_dominated
from trace_core.spaces import Float

TWO = {"f1": "minimize", "f2": "minimize"}


@bundle
def zdt(x: float, y: float) -> dict:
    """ZDT1 with two variables: f1 = x, f2 = g (1 - sqrt(x / g)), g = 1 + 9 y."""
    g = 1.0 + 9.0 * y
    return {"f1": x, "f2": g * (1.0 - (x / g) ** 0.5), "f3": x + y}


class Zdt(BaseTask):
    name = "zdt_test"
    direction = "minimize"

    def __init__(self) -> None:
        super().__init__()
        self.x = Parameter(0.5, name="x", space=Float(0.0, 1.0))
        self.y = Parameter(0.5, name="y", space=Float(0.0, 1.0))

    def parameters(self):
        return [self.x, self.y]

    def run(self, example):
        return zdt(self.x, self.y)

    def evaluate(self, example, output):
        metrics = dict(getattr(output, "value", output))
        return Feedback(score=metrics["f1"], metrics=metrics)


def config(objectives, constraints=(), reference=None):
    """A run config's objectives as a run records them (agents._front.front_config)."""
    return {"objectives": {"names": list(objectives), "senses": list(objectives.values()),
                           "constraints": list(constraints), "reference_point": reference}}


def run_of(objectives, constraints=(), steps=8):
    store = RunStore("sqlite://")
    task = type("ZdtMO", (Zdt,), {"objectives": objectives, "constraints": list(constraints)})()
    result = optimize(task, optimizer="search:random", budget=Budget(max_steps=steps), k=2, store=store)
    return RunReport.load(store, result.run_id), store


def candidate(step, idx, **metrics):
    return {"step": step, "idx": idx, "status": "done", "feedback": {"metrics": metrics}}


def test_the_front_after_each_step_and_its_hypervolume_follow_the_candidates():
    run = {"id": "r", "config": config(TWO)}
    cands = [candidate(0, 0, f1=3.0, f2=3.0), candidate(1, 0, f1=1.0, f2=2.0), candidate(1, 1, f1=2.0, f2=1.0),
             candidate(2, 0, f1=2.5, f2=2.5), {"step": 2, "idx": 1, "status": "failed", "feedback": {}},
             candidate(3, 0, f1=0.5, f2=0.5)]
    h = front_history(run, [{"step": s} for s in range(5)], cands)
    fronts = {s: sorted(h.points[i].values for i in h.fronts[s]) for s in h.fronts}
    assert fronts[0] == [(3.0, 3.0)] and fronts[1] == fronts[2] == [(1.0, 2.0), (2.0, 1.0)]
    assert fronts[3] == fronts[4] == [(0.5, 0.5)]
    assert h.changed == (0, 1, 3)
    assert h.reference == (3.25, 3.25)  # just past the worst value observed, a tenth of the range out
    # after step 1 the worst values observed are (3, 3) and the range 2: the reference is 3.2 then
    assert dict(h.hypervolumes)[1] == pytest.approx(hypervolume([(1, 2), (2, 1)], (3.2, 3.2), ("minimize",) * 2))
    assert [round(v, 9) for _, v in h.hypervolumes] == sorted(round(v, 9) for _, v in h.hypervolumes)
    given = front_history({"id": "r", "config": config(TWO, reference=[4, 4])}, [], cands)
    assert given.reference == (4.0, 4.0)
    assert front_history({"id": "r", "config": {}, "task": "numeric"}, [], cands) is None  # one objective
    assert front_section({"id": "r", "config": {}, "task": "numeric"}, [], cands) == ""


def test_a_two_objective_run_draws_a_scatter_with_the_front_highlighted():
    rep, store = run_of(TWO)
    h = front_history(rep.run, rep.steps, rep.candidates)
    valued = [c for c in rep.candidates if c.get("score") is not None]
    points = [(c["feedback"]["metrics"]["f1"], c["feedback"]["metrics"]["f2"]) for c in valued]
    expected = sorted(points[i] for i in non_dominated(points, ("minimize", "minimize")))
    assert sorted(h.points[i].values for i in h.last) == expected
    # the same fronts and hypervolumes as the run stored after each step
    assert sorted((h.points[i].step, h.points[i].idx) for i in h.last) == sorted(
        (m["step"], m["candidate"]) for m in rep.front["members"])
    assert [(f["step"], f["hypervolume"]) for f in store.fronts(rep.run["id"]) if f["size"]] == [
        (s, pytest.approx(v)) for s, v in h.hypervolumes]
    page = rep.html()
    section = page.split('<section id="front">', 1)[1].split("</section>", 1)[0]
    main = section.split("<svg", 2)[1]  # the large chart: every candidate, the last front highlighted
    assert 'data-kind="front"' in main and main.count('class="front-pt mark"') == len(expected)
    assert main.count('class="dom-pt mark"') == len(points) - len(expected)
    assert main.count('class="front-line mark"') == len(h.changed)
    hv_chart = section.split('data-kind="hypervolume"', 1)[1].split("</svg>", 1)[0]
    assert hv_chart.count('class="best-pt mark"') == len(rep.steps)
    assert section.count("<figcaption>after step") == len(h.changed)
    assert f"{len(expected)} candidate(s) on the front" in section
    table = section.split('<table class="steps front">', 1)[1]
    assert table.count("<tr>") == len(expected) + 1 and "<th>what changed</th>" in table
    assert f"<h2>Front ({len(expected)} candidates, hypervolume {rep.front['hypervolume']:.6g})</h2>" in section
    assert "front: " in rep.summary() and "hypervolume" in rep.summary()


def test_more_objectives_draw_parallel_coordinates_and_infeasible_ones_stay_off_the_front():
    rep, _ = run_of({"f1": "minimize", "f2": "minimize", "f3": "minimize"}, ["f3 <= 1.2"], steps=5)
    h = front_history(rep.run, rep.steps, rep.candidates)
    assert all(h.points[i].feasible for i in h.last) and any(not p.feasible for p in h.points)
    section = rep.html().split('<section id="front">', 1)[1].split("</section>", 1)[0]
    main = section.split("<svg", 2)[1]
    assert main.count("<path") == len(h.points) and main.count('class="front-pt mark"') == len(h.last)
    assert main.count('stroke="#dc2626"') == sum(not p.feasible for p in h.points)
    assert "constraints: f3 &lt;= 1.2" in section


def test_names_are_escaped_and_a_single_objective_report_has_no_front():
    run = {"id": "r", "config": config({"acc<script>": "maximize", "size": "minimize"})}
    section = front_section(run, [{"step": 0}], [candidate(0, 0, **{"acc<script>": 0.9, "size": 3.0})])
    assert "acc&lt;script&gt;" in section and "<script>" not in section
    infeasible = {"id": "r", "config": config(TWO, ["f1 <= 1"])}
    none_yet = front_section(infeasible, [{"step": 0}], [candidate(0, 0, f1=2.0, f2=1.0)])
    assert "No feasible candidate yet" in none_yet and 'stroke="#dc2626"' in none_yet
    store = RunStore("sqlite://")
    from tasks.examples.numeric import NumericTask

    plain = RunReport.load(store, optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=2),
                                           store=store).run_id)
    assert 'id="front"' not in plain.html() and "front:" not in plain.summary()
    assert not re.search(r"\$front", plain.html())


class ZdtTwo(Zdt):
    objectives = TWO


def test_an_llm_optimizer_on_a_multi_objective_task_sees_the_front_and_the_report_draws_it():
    from trace_core.llm import ScriptedLLM

    xs = iter([0.2, 0.8, 0.1, 0.6])
    llm = ScriptedLLM(lambda messages: json.dumps({"reasoning": "r", "suggestion": {"x": next(xs)}, "no_change": False}))
    store = RunStore("sqlite://")
    result = optimize(ZdtTwo(), optimizer="opro", llm=llm, budget=Budget(max_steps=3), store=store)
    prompts = [call[-1]["content"] for call in llm.calls]
    assert all("# The front so far" in p and "minimize f1, minimize f2" in p for p in prompts)
    assert "(1 non-dominated of 1 candidates tried" in prompts[0]
    assert "of 3 candidates tried" in prompts[-1]
    rep = RunReport.load(store, result.run_id)
    assert rep.run["config"]["objectives"]["names"] == ["f1", "f2"]
    h = front_history(rep.run, rep.steps, rep.candidates)
    assert len(h.points) == 4 and rep.html().count('<section id="front">') == 1
