"""The design3d task adapter: traced runs, feedback, templates, and the loop end to end."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import trimesh

from tasks.design3d import Design3DTask
from tasks.design3d.task import InvalidPrompt
from tasks.registry import build_task
from trace_core import Budget, Node, Parameter, backward, using
from trace_core.errors import ConfigError, TaskError

SNAPSHOTS = Path(__file__).parent / "snapshots"
SLEEK, BOXY = "sleek long teardrop low", "boxy tall short blunt"


@pytest.fixture()
def task() -> Design3DTask:
    return Design3DTask("a family car", seeds=[0, 1])


def test_parameters_description_vocabulary_and_spec(task):
    (param,) = task.parameters()
    assert isinstance(param, Parameter) and param.name == "prompt" and param.value == "a family car"
    assert param.space.kind == "text"
    assert task.direction == "minimize" and task.train == [0, 1] and task.val == [0, 1]
    assert "teardrop" in task.vocabulary and "very" in task.vocabulary and "teardrop" in task.description
    spec = task.spec()
    again = build_task(spec["name"], **spec["options"])
    assert isinstance(again, Design3DTask) and again.train == task.train


def test_run_is_traced_to_the_prompt_and_scored_in_newtons(task):
    out = task.run(0)
    assert isinstance(out, Node) and isinstance(out.value, trimesh.Trimesh)
    assert task.prompt in out.parents
    fb = task.evaluate(0, out)
    assert not fb.failed and 100.0 < fb.score < 2000.0 and fb.metrics["drag"] == fb.score
    assert backward(out, fb)[task.prompt].feedback[0] is fb


def test_candidates_are_scored_under_their_own_values(task):
    with using({"prompt": SLEEK}):
        sleek = task.evaluate(0, task.run(0))
    with using({"prompt": BOXY}):
        boxy = task.evaluate(0, task.run(0))
    assert not sleek.failed and not boxy.failed
    assert sleek.score < boxy.score
    assert task.prompt.value == "a family car"
    with using({"prompt": SLEEK}):
        again = task.evaluate(0, task.run(0))
    assert again.score == sleek.score


def test_bad_prompts_and_outputs_are_scored_failures(task):
    with using({"prompt": "x" * 400}):
        out = task.run(0)
    assert isinstance(out.value, InvalidPrompt)
    assert task.evaluate(0, out).failed and "at most 300" in task.evaluate(0, out).text
    with using({"prompt": "very very long limousine"}):
        fb = task.evaluate(0, task.run(0))
    assert fb.failed and "length" in fb.text
    assert task.evaluate(0, RuntimeError("boom")).failed
    assert "not a mesh" in task.evaluate(0, 42).text


def test_without_a_length_limit_a_long_prompt_is_scored_with_short_feedback():
    task = Design3DTask(max_chars=None)
    with using({"prompt": "sleek zebra " * 400}):
        fb = task.evaluate(0, task.run(0))
    assert fb.metrics["drag"] > 0 and "sleek x400" in fb.text and "zebra x400" in fb.text
    assert len(fb.text) < 1000


def test_configuration_errors_are_raised_early():
    with pytest.raises(ConfigError):
        Design3DTask(vehicle_class="spaceship")
    with pytest.raises(ConfigError):
        Design3DTask("x" * 20, max_chars=10)
    with pytest.raises(ConfigError):
        Design3DTask(speed=0)
    with pytest.raises(TaskError, match="procedural"):
        Design3DTask(generator="shap-e", generator_options={"model_dir": "/nonexistent"})


def test_artifacts_picture_and_exports(task, tmp_path):
    art = task.artifacts({"prompt": SLEEK}, directory=tmp_path, stem="best")
    assert art["prompt"] == SLEEK and art["png_base64"]
    for path in art["files"].values():
        assert trimesh.load(path, force="mesh").is_watertight


@pytest.mark.parametrize("role", sorted(Design3DTask.templates))
def test_operator_templates_match_their_snapshots(role):
    task = Design3DTask()
    parents = 'Parent 1 (score 519.2):\n  prompt: "a family car"\n  evaluation: drag 519.2 N ...'
    text = task.render_template(role, parents=parents)
    assert "$" not in text
    snapshot = SNAPSHOTS / f"{role}.txt"
    if os.environ.get("TRACETUNE_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text, encoding="utf-8")
    assert text == snapshot.read_text(encoding="utf-8"), f"{role} changed; rerun with TRACETUNE_UPDATE_SNAPSHOTS=1"


def _evolution():
    try:
        from optimizers import Evolution
    except ImportError:
        pytest.skip("optimizers.Evolution is not available yet")
    return Evolution


def test_the_loop_with_word_level_evolution_improves_the_prompt(tmp_path):
    from agents import optimize

    _evolution()
    task = Design3DTask("boxy tall van")
    result = optimize(task, optimizer="evolution", budget=Budget(max_evaluations=40), executor="serial",
                      store=f"sqlite:///{tmp_path / 'runs.db'}", seed=0)
    assert result.best_score is not None and result.best_score < result.initial_score
    best = result.best_values["prompt"]
    assert best != "boxy tall van"
    with using({"prompt": best}):
        assert task.evaluate(0, task.run(0)).score == pytest.approx(result.best_score)


def test_the_loop_with_llm_operators_from_a_scripted_llm(tmp_path):
    from agents import optimize
    from trace_core.llm import ScriptedLLM

    _evolution()
    better_words = iter(["teardrop", "skirted", "pointed", "long", "streamlined", "sleek"] * 10)

    def designer(messages):
        text = "\n".join(str(m.get("content") or "") for m in messages)
        parent = re.search(r'prompt: "([^"]*)"', text).group(1)
        child = f"{parent} {next(better_words)}".replace("boxy", "").replace("tall", "").strip()
        return json.dumps({"reasoning": "less wake and frontal area", "suggestion": {"prompt": child}})

    llm = ScriptedLLM(designer)
    task = Design3DTask("boxy tall van")
    result = optimize(task, optimizer="evolution", llm=llm, budget=Budget(max_evaluations=12), executor="serial",
                      store=f"sqlite:///{tmp_path / 'runs.db'}", seed=0)
    assert llm.calls, "the LLM operators were not used"
    seen = "\n".join(str(m.get("content") or "") for m in llm.calls[-1])
    assert "Drag sources" in seen  # parents come with their drag feedback
    assert result.best_score is not None and result.best_score < result.initial_score
    assert set(result.best_values["prompt"].split()) & {"teardrop", "skirted", "pointed", "long", "streamlined"}
