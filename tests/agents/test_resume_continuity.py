"""A resumed run continues from its last committed step: the step numbers go on, and no
evaluation, LLM call or step of the interrupted run is done again."""

from __future__ import annotations

from pathlib import Path

from agents import RunStore, optimize, resume
from tests.agents._scripted import PATH, RecordingTask, Script, field
from trace_core import Budget


def _interrupted_run(db: Path, script: Script, task: RecordingTask, after: int):
    """A run stopped (as by Ctrl-C) once ``after`` steps past the baseline are committed."""
    done: list[int] = []
    result = optimize(task, optimizer="optoprime", llm=script.llm(), budget=Budget(max_steps=5), store=db,
                      executor="serial", on_step=lambda rec: done.append(rec.step),
                      should_stop=lambda: len(done) > after)
    assert result.stop_reason == "interrupted" and done == list(range(after + 1))
    return result


def test_resume_continues_the_step_numbers_and_repeats_no_work(tmp_path: Path) -> None:
    db, script = tmp_path / "runs.db", Script()
    first_task = RecordingTask()
    first = _interrupted_run(db, script, first_task, after=2)
    store = RunStore(db)
    assert field(store.get_run(first.run_id), "status") == "interrupted"
    assert len(script.calls) == 2

    again_task = RecordingTask()
    result = resume(first.run_id, store=db, task=again_task, llm=script.llm(), executor="serial")

    assert result.stop_reason == "budget max_steps reached"
    assert [field(rec, "step") for rec in result.history] == [3, 4, 5]
    assert [field(s, "step") for s in store.steps(first.run_id)] == [0, 1, 2, 3, 4, 5]
    # one LLM call per new step: the interrupted run's calls are not made again
    assert len(script.calls) == 5
    assert [(field(c, "step"), field(c, "idx")) for c in store.llm_calls(first.run_id)] == [
        (1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]
    # the resumed run starts from the last committed values and never evaluates the
    # starting values or the interrupted run's candidates again
    assert again_task.seen[0] == PATH[1]
    assert not set(again_task.seen) & {(0.0, 0.0), PATH[0]}
    assert sorted(set(again_task.seen)) == sorted(PATH[1:5])
    assert len(again_task.seen) == 3 * (len(first_task.seen) - 1) // 2  # three steps, no baseline
    # the budget goes on from what was spent: 1 baseline + 5 candidates, 5 steps, 5 calls
    assert result.spent["steps"] == 5 and result.spent["evaluations"] == 6 and result.spent["calls"] == 5
    keys = [(field(e, "step"), field(e, "candidate"), field(e, "example")) for e in store.evaluations(first.run_id)]
    assert len(keys) == len(set(keys)) and sorted({k[0] for k in keys}) == [0, 1, 2, 3, 4, 5]


def test_resume_restores_the_incumbent_and_the_scores_of_the_run(tmp_path: Path) -> None:
    db, script = tmp_path / "runs.db", Script()
    first = _interrupted_run(db, script, RecordingTask(), after=1)
    result = resume(first.run_id, store=db, task=RecordingTask(), llm=script.llm(), executor="serial")
    assert result.initial_score == first.initial_score == 11.25
    assert result.best_values == {"x": PATH[4][0], "y": PATH[4][1]}
    assert result.best_score < first.best_score
    run = RunStore(db).get_run(first.run_id)
    assert field(run, "status") == "finished" and field(run, "best_score") == result.best_score
    assert field(run, "initial_score") == 11.25


def test_resume_of_a_run_interrupted_right_after_its_baseline(tmp_path: Path) -> None:
    db, script = tmp_path / "runs.db", Script()
    first = _interrupted_run(db, script, RecordingTask(), after=0)
    assert script.calls == []
    task = RecordingTask()
    result = resume(first.run_id, store=db, task=task, llm=script.llm(), executor="serial")
    assert [field(rec, "step") for rec in result.history] == [1, 2, 3, 4, 5]
    assert len(script.calls) == 5 and (0.0, 0.0) in task.seen  # the live values are traced, not re-scored
    assert [field(s, "step") for s in RunStore(db).steps(first.run_id)] == [0, 1, 2, 3, 4, 5]
    assert result.spent["evaluations"] == 6
