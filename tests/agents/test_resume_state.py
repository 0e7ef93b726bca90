"""What a resumed run takes over from the interrupted one besides its step numbers: the
optimizer's state, the run's first error, the fact that it has measured already (so a
failed first new step is not a failed start), its stored budget, its status while it
runs, and the scores of a committed step restored later."""

from __future__ import annotations

from pathlib import Path

from agents import RunStore, optimize, resume
from agents.loop import open_run
from tests.agents._scripted import PATH, RecordingTask, Script, field
from trace_core import Budget


class FailingTask(RecordingTask):
    """Fails the evaluation of the points of ``PATH`` at the given indexes."""

    def __init__(self, fail_at: tuple[int, ...]) -> None:
        super().__init__()
        self.fail_at = {PATH[i] for i in fail_at}

    def evaluate(self, example, output):
        point = (self.x.value, self.y.value)
        if point in self.fail_at:
            self.seen.append(point)
            raise RuntimeError(f"cannot evaluate {point}")
        return super().evaluate(example, output)


def _interrupted(db: Path, script: Script, task, after: int = 2) -> str:
    done: list[int] = []
    result = optimize(task, optimizer="optoprime", llm=script.llm(), budget=Budget(max_steps=5), store=db,
                      executor="serial", on_step=lambda rec: done.append(rec.step),
                      should_stop=lambda: len(done) > after)
    assert result.stop_reason == "interrupted"
    return result.run_id


def test_the_optimizer_state_of_the_last_committed_step_is_restored(tmp_path: Path) -> None:
    db, script = tmp_path / "runs.db", Script()
    run_id = _interrupted(db, script, RecordingTask())
    stored = field(RunStore(db).last_step(run_id), "optimizer_state")
    assert stored["memory"]  # OptoPrime remembers the values it tried
    run = open_run(run_id, store=db, task=RecordingTask(), llm=script.llm(), executor="serial")
    try:
        assert run.opt.state_dict() == stored
        assert run.step == 2 and run.incumbent_score == field(RunStore(db).last_step(run_id), "incumbent_score")
    finally:
        run.close()
        run.store.release_lease(run_id)


def test_a_failure_after_resuming_is_not_a_failed_start_and_the_first_error_is_kept(tmp_path: Path) -> None:
    db, script = tmp_path / "runs.db", Script()
    run_id = _interrupted(db, script, FailingTask(fail_at=(0,)))  # step 1's candidate fails
    first = RunStore(db).get_run(run_id)["config"]["first_error"]
    assert first["step"] == 1 and "cannot evaluate" in first["message"]

    result = resume(run_id, store=db, task=FailingTask(fail_at=(2,)), llm=script.llm(), executor="serial")

    assert result.stop_reason == "budget max_steps reached"  # step 3 failed, the run went on
    assert [field(rec, "step") for rec in result.history] == [3, 4, 5]
    run = RunStore(db).get_run(run_id)
    assert field(run, "status") == "finished"
    assert run["config"]["first_error"] == first  # the later failure is only counted


def test_the_run_is_marked_running_while_it_resumes(tmp_path: Path) -> None:
    db, script = tmp_path / "runs.db", Script()
    run_id = _interrupted(db, script, RecordingTask())
    store = RunStore(db)
    assert field(store.get_run(run_id), "status") == "interrupted"
    seen: list[tuple[str, str | None]] = []

    def note(rec) -> None:
        row = store.get_run(run_id)
        seen.append((field(row, "status"), field(row, "stop_reason")))

    resume(run_id, store=db, task=RecordingTask(), llm=script.llm(), executor="serial", on_step=note)
    assert seen == [("running", None)] * 3
    assert field(store.get_run(run_id), "status") == "finished"


def test_a_run_stored_without_a_budget_resumes_without_limits(tmp_path: Path) -> None:
    db, script = tmp_path / "runs.db", Script()
    run_id = _interrupted(db, script, RecordingTask())
    store = RunStore(db)
    config = dict(store.get_run(run_id)["config"])
    del config["budget"]
    store.update_run(run_id, config=config)
    run = open_run(run_id, store=db, task=RecordingTask(), llm=script.llm(), executor="serial")
    try:
        assert run.budget.exhausted() is None and run.budget.max_steps is None
    finally:
        run.close()
        run.store.release_lease(run_id)


def test_restoring_a_committed_step_takes_its_values_and_score(tmp_path: Path) -> None:
    db, script = tmp_path / "runs.db", Script()
    run_id = _interrupted(db, script, RecordingTask())
    store = RunStore(db)
    step1 = store.step(run_id, 1)
    run = open_run(run_id, store=db, task=RecordingTask(), llm=script.llm(), executor="serial")
    try:
        rec = run.restore(1)
        assert run.step == 3 and run.incumbent_score == field(step1, "incumbent_score")
        assert run.incumbent_score != field(store.step(run_id, 2), "incumbent_score")
    finally:
        run.close()
        run.store.release_lease(run_id)
    last = store.last_step(run_id)
    assert field(last, "step") == 3 and field(last, "values") == field(step1, "values")
    assert field(last, "incumbent_score") == field(step1, "incumbent_score")
    assert field(rec, "step") == 3


def test_an_optimizer_given_to_resume_is_the_one_that_goes_on(tmp_path: Path) -> None:
    from optimizers.optoprime import OptoPrime

    db, script = tmp_path / "runs.db", Script()
    run_id = _interrupted(db, script, RecordingTask())
    task = RecordingTask()
    mine = OptoPrime(task.parameters(), script.llm())
    run = open_run(run_id, store=db, task=task, optimizer=mine, executor="serial")
    try:
        assert run.opt is mine
        assert mine.state_dict() == field(RunStore(db).last_step(run_id), "optimizer_state")  # its state restored
    finally:
        run.close()
        run.store.release_lease(run_id)
