"""The optimize() loop: steps, acceptance, budgets, own values per candidate, stores."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from agents import RunStore, optimize
from optimizers.base import Optimizer, Update
from tasks.base import BaseTask
from tasks.examples.numeric import NumericTask
from trace_core import Budget, Feedback, Parameter, RunFailed, bundle
from trace_core.spaces import Float


class RandomOpt(Optimizer):
    """A tiny optimizer for loop tests: uniform proposals, records what it saw."""

    def __init__(self, params: Any, seed: int = 0, needs_trace: bool = True):
        super().__init__(params)
        self.rng = random.Random(seed)
        self.needs_trace = needs_trace
        self.propagated: list[Any] = []
        self.observed: list[tuple[dict, Feedback]] = []

    def propose(self, propagated: Any = None, k: int = 1) -> list[Update]:
        self.propagated.append(propagated)
        return [Update({n: self.rng.uniform(p.space.lo, p.space.hi) for n, p in self.by_name.items()})
                for _ in range(k)]

    def observe(self, values: Any, feedback: Feedback, *, update: Update | None = None) -> None:
        self.observed.append((dict(values), feedback))

    def state_dict(self) -> dict[str, Any]:
        return {"rng": list(self.rng.getstate()[1]), "n": len(self.observed)}


def test_loop_improves_and_records_every_step(tmp_path: Any) -> None:
    task = NumericTask()
    opt = RandomOpt(task.parameters())
    result = optimize(task, optimizer=opt, budget=Budget(max_steps=12), k=3, store=tmp_path / "r.db")
    assert result.stop_reason == "budget max_steps reached"
    assert result.best_score < result.initial_score == pytest.approx(11.25)
    assert len(result.history) == 13  # step 0 + 12 steps
    # the incumbent never gets worse, and the live parameters hold the best values
    scores = [h.incumbent_score for h in result.history]
    assert all(b <= a for a, b in zip(scores, scores[1:]))
    assert task.x.value == pytest.approx(result.best_values["x"])
    store = RunStore(tmp_path / "r.db")
    assert [s["step"] for s in store.steps(result.run_id)] == list(range(13))
    assert len(store.candidates(result.run_id)) == 1 + 12 * 3
    assert store.get_run(result.run_id)["status"] == "finished"
    # the optimizer got the traced graph and feedback each step
    assert all(p is not None and len(p) == 2 for p in opt.propagated)


def test_search_like_optimizers_skip_the_trace() -> None:
    task = NumericTask()
    opt = RandomOpt(task.parameters(), needs_trace=False)
    optimize(task, optimizer=opt, budget=Budget(max_steps=3), store="sqlite://")
    assert opt.propagated == [None, None, None]


@pytest.mark.parametrize(
    ("budget", "reason"),
    [
        (Budget(max_steps=2), "budget max_steps reached"),
        (Budget(max_evaluations=5), "budget max_evaluations reached"),
        (Budget(max_seconds=0.3), "budget max_seconds reached"),
    ],
)
def test_budget_stops_cleanly(budget: Budget, reason: str) -> None:
    task = NumericTask(delay=0.01)
    result = optimize(task, optimizer=RandomOpt(task.parameters()), budget=budget, k=2, store="sqlite://")
    assert result.stop_reason == reason
    if budget.max_evaluations:
        assert result.spent["evaluations"] <= budget.max_evaluations


def test_target_stops_the_run() -> None:
    task = NumericTask()
    result = optimize(task, optimizer=RandomOpt(task.parameters()), target=5.0, budget=Budget(max_steps=200),
                      k=4, store="sqlite://")
    assert result.stop_reason == "target reached"
    assert result.best_score <= 5.0


class EchoTask(BaseTask):
    """Sleeps, then reports the value it saw: concurrent candidates must not mix."""

    name = "echo"
    direction = "maximize"

    def __init__(self) -> None:
        super().__init__()
        self.v = Parameter(0.0, name="v", space=Float(0, 100))
        self.threads: set[int] = set()

        @bundle
        def read(x: float) -> float:
            self.threads.add(threading.get_ident())
            time.sleep(0.05)
            return self.v.value  # read again after the sleep: must still be this candidate's value

        self.read = read

    def parameters(self) -> list[Parameter]:
        return [self.v]

    def run(self, example: Any) -> Any:
        return self.read(self.v)

    def evaluate(self, example: Any, output: Any) -> Feedback:
        return Feedback(score=float(getattr(output, "value", output)))


def test_candidates_evaluated_concurrently_see_their_own_values() -> None:
    task = EchoTask()
    opt = RandomOpt(task.parameters(), needs_trace=False)
    optimize(task, optimizer=opt, budget=Budget(max_steps=2), k=6, store="sqlite://", workers=6)
    assert len(task.threads) > 1
    for values, fb in opt.observed[1:]:
        assert fb.score == pytest.approx(values["v"])
    assert task.v.value == max(v["v"] for v, _ in opt.observed)


class CrashTask(NumericTask):
    name = "crash"

    def evaluate(self, example: Any, output: Any) -> Feedback:
        value = getattr(output, "value", output)
        if value > 30:
            raise RuntimeError("simulator exploded")
        return super().evaluate(example, output)


def test_a_crashing_evaluation_is_feedback_not_a_crash() -> None:
    task = CrashTask()
    opt = RandomOpt(task.parameters(), seed=3)
    result = optimize(task, optimizer=opt, budget=Budget(max_steps=6), k=3, store="sqlite://")
    failed = [fb for _, fb in opt.observed if fb.failed]
    assert failed and "simulator exploded" in failed[0].text
    assert result.best_score is not None


def test_workflow_with_feedback_function() -> None:
    k = Parameter(1.0, name="k", space=Float(0, 5))

    @bundle
    def scale(x: float) -> float:
        return x * k.value

    result = optimize(scale, feedback=lambda ex, out: -abs(out - 3 * ex), train=[1, 2, 3],
                      optimizer=RandomOpt([k], seed=1), budget=Budget(max_steps=15), k=2, store="sqlite://")
    assert result.best_score > result.initial_score
    assert abs(result.best_values["k"] - 3) < abs(1 - 3)


def test_warm_start_values_are_validated() -> None:
    from trace_core.errors import InvalidProposal

    task = NumericTask()
    with pytest.raises(InvalidProposal, match="out of range"):
        optimize(task, optimizer=RandomOpt(task.parameters()), initial_values={"x": 99}, store="sqlite://")
    result = optimize(task, optimizer=RandomOpt(task.parameters()), initial_values={"x": 3.0, "y": -1.5},
                      budget=Budget(max_steps=1), store="sqlite://")
    assert result.initial_score == pytest.approx(0.0)


class BrokenTask(NumericTask):
    name = "broken"

    def evaluate(self, example: Any, output: Any) -> Feedback:
        from trace_core import TaskError

        raise TaskError("the simulator license expired")


@pytest.mark.parametrize("executor", ["serial", "thread"])
def test_a_systemic_failure_stops_the_run(executor: str, tmp_path: Any) -> None:
    from trace_core import TaskError

    task = BrokenTask()
    with pytest.raises(TaskError, match="license expired"):
        optimize(task, optimizer=RandomOpt(task.parameters()), executor=executor, store=tmp_path / "r.db")
    (run,) = RunStore(tmp_path / "r.db").list_runs()
    assert run["status"] == "failed" and "license expired" in run["stop_reason"]


def test_a_module_with_forward_only_is_a_workflow() -> None:
    from trace_core import Module

    class Scale(Module):
        def __init__(self) -> None:
            self.k = Parameter(1.0, name="k", space=Float(0, 5))

        @bundle
        def mul(self, x: float) -> float:
            return x * self.k.value

        def forward(self, x: float) -> Any:  # no __call__: Module defines none
            return self.mul(x)

    module = Scale()
    result = optimize(module, feedback=lambda ex, out: -abs(out - 3 * ex), train=[1, 2],
                      optimizer=RandomOpt(module.parameters(), seed=1), budget=Budget(max_steps=6), k=2,
                      store="sqlite://")
    assert result.best_score > result.initial_score and module.k.value == result.best_values["k"]


def test_text_only_feedback_applies_each_proposal_that_does_not_fail() -> None:
    k = Parameter(1.0, name="k", space=Float(0, 5))

    @bundle
    def scale(x: float) -> float:
        if k.value > 4:
            raise ValueError("k too large")
        return x * k.value

    opt = RandomOpt([k], seed=0)
    result = optimize(scale, feedback=lambda ex, out: f"the output {out:.2f} should be 3", train=[1], optimizer=opt,
                      budget=Budget(max_steps=6), store="sqlite://")
    assert result.best_score is None
    for (values, fb), rec in zip(opt.observed[1:], result.history[1:]):
        assert rec.accepted == (not fb.failed) and (values["k"] > 4) == fb.failed
    kept = [v for (v, fb) in opt.observed[1:] if not fb.failed]
    assert kept and k.value == kept[-1]["k"]


def test_a_budget_reached_inside_an_evaluation_stops_the_run() -> None:
    from agents import WorkflowTask
    from trace_core import BudgetExceeded

    calls = {"n": 0}
    k = Parameter(1.0, name="k", space=Float(0, 5))

    @bundle
    def ask(x: float) -> float:  # as a workflow LLM sharing the run's Budget would raise
        calls["n"] += 1
        if calls["n"] > 3:
            raise BudgetExceeded("budget max_tokens=100 would be exceeded", limit="max_tokens")
        return x * k.value

    task = WorkflowTask(ask, lambda ex, out: -abs(out - 3), train=[1], parameters=[k])
    result = optimize(task, optimizer=RandomOpt([k]), budget=Budget(max_steps=20), store="sqlite://")
    assert result.stop_reason == "budget max_tokens reached"
    assert all(s is not None for h in result.history for s in h.candidate_scores)  # no failed candidate recorded


def test_train_and_val_given_with_a_task_replace_its_data() -> None:
    store = RunStore("sqlite://")
    result = optimize(NumericTask(), optimizer=RandomOpt(NumericTask().parameters()), val=[None, None, None],
                      budget=Budget(max_steps=1), store=store)
    rows = store.evaluations(result.run_id)
    assert {r["example"] for r in rows} == {0, 1, 2}
    assert store.get_run(result.run_id)["config"]["task"]["val"] == [None, None, None]


def test_sys_exit_in_a_workflow_is_a_failed_evaluation() -> None:
    class ExitTask(NumericTask):
        def evaluate(self, example: Any, output: Any) -> Feedback:
            raise SystemExit(3)

    task = ExitTask()
    store = RunStore("sqlite://")
    with pytest.raises(RunFailed) as info:  # it failed on every example of the start: nothing was measured
        optimize(task, optimizer=RandomOpt(task.parameters()), budget=Budget(max_steps=1), store=store)
    assert info.value.first_error["type"] == "SystemExit" and info.value.first_error["message"] == "3"
    assert [c["status"] for c in store.candidates(info.value.run_id)] == ["failed"]


@pytest.mark.parametrize("optimizer", ["search", {"name": "evolution", "population": 2, "offspring": 2}])
def test_the_loop_with_search_and_evolution(optimizer: Any) -> None:
    from tasks.examples.prompt_qa import PromptQATask

    task = NumericTask() if optimizer == "search" else PromptQATask(n_train=4)
    store = RunStore("sqlite://")
    result = optimize(task, optimizer=optimizer, budget=Budget(max_steps=2), k=2, store=store)
    assert result.stop_reason == "budget max_steps reached" and len(result.history) == 3
    assert all(len(h.candidate_scores) == 2 and None not in h.candidate_scores for h in result.history[1:])
    assert len(store.candidates(result.run_id)) == 1 + 2 * 2


def test_numpy_and_torch_scores_from_a_feedback_function_are_scores() -> None:
    import numpy as np
    import torch

    from agents import WorkflowTask

    k = Parameter(1.0, name="k", space=Float(0, 5))
    scale = bundle(lambda x: x * k.value)
    for make in (np.float32, torch.tensor):
        task = WorkflowTask(scale, lambda ex, out: make(-abs(out - 3.0)), train=[1], parameters=[k])
        assert task.evaluate(1, task.run(1)).score == pytest.approx(-2.0)


def test_an_unreachable_llm_fails_the_run_instead_of_idling_through_the_budget(tmp_path: Any) -> None:
    from trace_core.llm import ScriptedLLM
    from trace_core.llm.errors import FatalLLMError, LLMConnectionError

    down = ScriptedLLM(lambda messages: LLMConnectionError("the server could not be reached"))
    with pytest.raises(FatalLLMError, match="3 steps in a row.*could not be reached"):
        optimize(NumericTask(), optimizer="optoprime", llm=down, budget=Budget(max_steps=20), store=tmp_path / "r.db")
    (run,) = RunStore(tmp_path / "r.db").list_runs()
    assert run["status"] == "failed" and len(RunStore(tmp_path / "r.db").steps(run["id"])) == 3  # step 0, 1, 2


def test_the_timeout_holds_for_the_traced_forward_pass_too() -> None:
    release = threading.Event()

    class Hangs(NumericTask):
        train = ["stuck", None]
        val = [None]

        def run(self, example: Any) -> Any:
            if example == "stuck":
                release.wait(30)
            return super().run(example)

    task, store = Hangs(), RunStore("sqlite://")
    opt = RandomOpt(task.parameters())
    try:
        result = optimize(task, optimizer=opt, budget=Budget(max_steps=1), timeout=0.5, store=store)
    finally:
        release.set()
    assert result.stop_reason == "budget max_steps reached" and len(opt.propagated[0]) == 2  # the other one ran
    stuck, other = store.steps(result.run_id)[1]["train_feedback"]
    assert "timed out after 0.5 s" in stuck["text"] and other["score"] == pytest.approx(11.25)
