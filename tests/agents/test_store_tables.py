"""Every table a step writes, read back through the RunStore: the run row, steps,
candidates, evaluations, LLM calls, snapshots and the optimizer state."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import RunStore, optimize
from tests.agents._scripted import PATH, RecordingTask, Script, field
from trace_core import Budget, ConfigError


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("store") / "runs.db"
    result = optimize(RecordingTask(), optimizer="optoprime", llm=Script().llm(), budget=Budget(max_steps=2),
                      store=db, executor="serial")
    return RunStore(db), result


def _point(i: int) -> dict[str, float]:
    return {"x": PATH[i][0], "y": PATH[i][1]}


def _f(x: float, y: float) -> float:
    dx, dy = x - 3.0, y + 1.5
    return dx * dx + 2 * dy * dy + 0.5 * dx * dy


def test_the_run_row_holds_the_best_values_scores_and_spending(run) -> None:
    store, result = run
    row = store.get_run(result.run_id)
    assert field(row, "status") == "finished" and field(row, "stop_reason") == "budget max_steps reached"
    assert field(row, "initial_score") == 11.25
    assert field(row, "best_score") == pytest.approx(_f(*PATH[1]))
    assert field(row, "best_values") == _point(1)
    spent = field(row, "spent")
    assert spent["steps"] == 2 and spent["evaluations"] == 3 and spent["calls"] == 2 and spent["tokens"] > 0
    assert field(row, "direction") == "minimize" and field(row, "task") == "numeric"
    assert [field(r, "id") for r in store.list_runs()] == [result.run_id]
    assert field(store.get_run(result.run_id[:6]), "id") == result.run_id  # a unique prefix finds it


def test_each_step_row_holds_its_scores_values_and_costs(run) -> None:
    store, result = run
    steps = store.steps(result.run_id)
    assert [field(s, "step") for s in steps] == [0, 1, 2]
    assert [field(s, "accepted") for s in steps] == [True, True, True]
    assert [field(s, "values") for s in steps] == [{"x": 0.0, "y": 0.0}, _point(0), _point(1)]
    assert [field(s, "incumbent_score") for s in steps] == pytest.approx([11.25, _f(*PATH[0]), _f(*PATH[1])])
    assert [field(s, "best_candidate_score") for s in steps] == pytest.approx(
        [11.25, _f(*PATH[0]), _f(*PATH[1])])
    assert [field(s, "spent")["steps"] for s in steps] == [0, 1, 2]
    assert field(steps[0], "tokens") == 0 and all(field(s, "tokens") > 0 for s in steps[1:])
    assert all(field(s, "train_feedback") for s in steps[1:])
    assert all(field(s, "graph") for s in steps[1:])
    last = store.last_step(result.run_id)
    assert field(last, "step") == 2 and field(last, "values") == _point(1)
    assert field(last, "optimizer_state")  # the optimizer's memory is stored with the step


def test_candidates_hold_what_was_proposed_why_and_how_it_scored(run) -> None:
    store, result = run
    cands = store.candidates(result.run_id)
    assert [(field(c, "step"), field(c, "idx")) for c in cands] == [(0, 0), (1, 0), (2, 0)]
    assert [field(c, "values") for c in cands] == [{"x": 0.0, "y": 0.0}, _point(0), _point(1)]
    assert field(cands[0], "reasoning") == "starting values"
    assert field(cands[1], "reasoning") == f"move to {PATH[0][0]}, {PATH[0][1]}"
    assert [field(c, "status") for c in cands] == ["done"] * 3
    assert field(cands[2], "score") == pytest.approx(_f(*PATH[1]))
    assert field(cands[2], "feedback")["metrics"]["f"] == pytest.approx(_f(*PATH[1]))
    assert field(cands[1], "update_id")
    assert [field(c, "step") for c in store.candidates(result.run_id, step=2)] == [2]


def test_evaluations_hold_one_row_per_candidate_and_example(run) -> None:
    store, result = run
    evals = store.evaluations(result.run_id)
    assert [(field(e, "step"), field(e, "candidate"), field(e, "example")) for e in evals] == [
        (0, 0, 0), (1, 0, 0), (2, 0, 0)]
    assert [field(e, "score") for e in evals] == pytest.approx([11.25, _f(*PATH[0]), _f(*PATH[1])])
    assert "lower is better" in field(evals[1], "feedback")["text"]


def test_llm_calls_hold_the_exchange_and_its_usage(run) -> None:
    store, result = run
    calls = store.llm_calls(result.run_id)
    assert [(field(c, "step"), field(c, "idx")) for c in calls] == [(1, 0), (2, 0)]
    assert all(field(c, "prompt_tokens") > 0 and field(c, "completion_tokens") > 0 for c in calls)
    assert '"suggestion"' in field(calls[0], "reply") and str(PATH[0][0]) in field(calls[0], "reply")
    assert "x" in field(calls[0], "prompt") and field(calls[0], "model")
    steps = store.steps(result.run_id)
    assert sum(field(s, "tokens") for s in steps) == sum(
        field(c, "prompt_tokens") + field(c, "completion_tokens") for c in calls)


def test_snapshots_hold_the_values_of_each_committed_step(run) -> None:
    store, result = run
    assert store.snapshot(result.run_id, 0) == {"x": 0.0, "y": 0.0}
    assert store.snapshot(result.run_id, 2) == _point(1)
    with pytest.raises(ConfigError, match="no committed step 7"):
        store.snapshot(result.run_id, 7)


def test_an_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "empty.db")
    assert store.list_runs() == [] and store.last_step("nope") is None and store.steps("nope") == []
    with pytest.raises(ConfigError, match="no run 'nope'"):
        store.get_run("nope")


def test_a_graph_attached_later_goes_to_that_step_only(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    result = optimize(RecordingTask(), optimizer="optoprime", llm=Script().llm(), budget=Budget(max_steps=1),
                      store=store, executor="serial")
    before = [field(s, "graph") for s in store.steps(result.run_id)]
    store.set_step_graph(result.run_id, 0, '{"nodes": []}')
    after = [field(s, "graph") for s in store.steps(result.run_id)]
    assert after == ['{"nodes": []}', before[1]] and before[1]


def test_a_run_id_is_found_exactly_before_it_is_taken_as_a_prefix(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    for run_id in ("r1", "r10"):
        store.create_run(name=run_id, task="numeric", config={}, run_id=run_id)
    assert field(store.get_run("r1"), "name") == "r1"
    assert field(store.get_run("r10"), "name") == "r10"
    with pytest.raises(ConfigError, match="no run 'r'"):
        store.get_run("r")  # two runs start with it
