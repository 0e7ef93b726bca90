"""The chat answers trade-off questions over a run's candidates: "the cheapest candidate
within 1 % of the best accuracy"."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agents import RunStore, optimize
from agents.chat._tradeoff import BestWithin, best_within
from tasks import registry
from tasks.base import BaseTask
from trace_core import Budget, Feedback, Parameter, bundle
from trace_core.errors import ConfigError
from trace_core.llm import ToolCall
from trace_core.spaces import Int


@bundle
def train(width: int) -> dict:
    """A stand-in network: accuracy saturates with width, parameters grow with it."""
    return {"val_acc": round(0.95 - 0.3 / width, 6), "n_params": 100.0 * width}


class Net(BaseTask):
    name = "net_test"
    direction = "maximize"
    objectives = {"val_acc": "maximize", "n_params": "minimize"}

    def __init__(self) -> None:
        super().__init__()
        self.width = Parameter(4, name="width", space=Int(1, 64))

    def parameters(self):
        return [self.width]

    def run(self, example):
        return train(self.width)

    def evaluate(self, example, output):
        metrics = dict(getattr(output, "value", output))
        return Feedback(score=metrics["val_acc"], metrics=metrics)


class Store:
    """The two store reads the tool makes, over hand-made candidates."""

    def __init__(self, run, candidates):
        self.run, self.rows = run, candidates

    def get_run(self, run_id):
        return self.run

    def candidates(self, run_id):
        return self.rows


def cand(step, idx, status="done", **metrics):
    return {"step": step, "idx": idx, "status": status, "score": metrics.get("acc"), "values": {"w": step * 10 + idx},
            "feedback": {"metrics": metrics}}


ROWS = [cand(0, 0, acc=0.90, size=100.0), cand(1, 0, acc=0.95, size=900.0), cand(1, 1, acc=0.943, size=400.0),
        cand(2, 0, acc=0.9405, size=300.0), cand(2, 1, acc=0.93, size=50.0), cand(3, 0, "failed", acc=0.99, size=1.0),
        cand(3, 1, acc=0.949, size=300.0)]


def ask(rows=ROWS, config=None, **args):
    control = SimpleNamespace(run_id="r1", store=Store({"id": "r1", "direction": "maximize",
                                                        "config": config or {}}, rows))
    return best_within(control, BestWithin(**args))


def test_the_cheapest_within_one_percent_of_the_best():
    answer = ask(near_best="acc", then="size", near_best_direction="maximize")
    assert "the best acc (maximize, as asked) is 0.95 at step 1 candidate 0" in answer
    # 0.95 - 1 % = 0.9405: four candidates; the failed 0.99 does not count
    assert "4 of 6 candidates are within 1 % (0.0095) of it (acc >= 0.9405)" in answer
    assert "the lowest size (minimize, by default) among them: step 2 candidate 0: acc 0.9405, size 300" in answer
    assert answer.index("step 3 candidate 1") < answer.index("step 1 candidate 1")  # a tie on size: earliest first
    wider = ask(near_best="acc", then="size", near_best_direction="maximize", tolerance=0.05, absolute=True)
    assert "the lowest size (minimize, by default) among them: step 2 candidate 1: acc 0.93, size 50" in wider
    biggest = ask(near_best="acc", then="size", near_best_direction="maximize", then_direction="maximize")
    assert "the highest size (maximize, as asked) among them: step 1 candidate 0" in biggest


def test_senses_come_from_the_run_and_unknown_ones_are_asked_for():
    config = {"objectives": {"names": ["acc", "size"], "senses": ["maximize", "minimize"],
                             "constraints": ["size >= 200"]}}
    answer = ask(config=config, near_best="acc", then="size")
    assert "(maximize, an objective of the run)" in answer and "(minimize, an objective of the run)" in answer
    assert "step 2 candidate 0: acc 0.9405, size 300" in answer and "(2 candidate(s) that break a constraint" in answer
    assert "4 of 4 candidates are within 1 %" in answer
    assert "the best score (maximize, the run's direction) is 0.95" in ask(near_best="score", then="size")
    with pytest.raises(ConfigError, match="say whether higher or lower acc is better"):
        ask(near_best="acc", then="size")
    assert ask(near_best="score", then="latency").startswith(
        "No evaluated candidate of run r1 has both score and latency. The metrics found: acc, score, size.")


def test_the_chat_answers_from_a_stored_multi_objective_run(open_session, tool_results, workdir, monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "net_test", f"{__name__}:Net")
    store = RunStore(str(workdir / "runs.db"))
    run_id = optimize(registry.build_task("net_test"), optimizer="search:random", budget=Budget(max_steps=6), k=2,
                      store=store).run_id
    chat = open_session([ToolCall.of("use_run", run_id=run_id),
                         ToolCall.of("best_within", near_best="val_acc", then="n_params"), "The cheapest is width 9."])
    assert chat.send("show me the cheapest candidate within 1 % of the best accuracy") == "The cheapest is width 9."
    answer = tool_results(chat, "best_within")[0]
    rows = [c for c in store.candidates(run_id) if c["status"] == "done"]
    best = max(c["feedback"]["metrics"]["val_acc"] for c in rows)
    close = [c for c in rows if c["feedback"]["metrics"]["val_acc"] >= best * 0.99 - 1e-12]
    cheapest = min(close, key=lambda c: c["feedback"]["metrics"]["n_params"])
    assert len(close) > 1 and cheapest["feedback"]["metrics"]["val_acc"] < best  # a real trade-off
    assert (f"the lowest n_params (minimize, an objective of the run) among them: step {cheapest['step']} "
            f"candidate {cheapest['idx']}:") in answer
    assert f"{len(close)} of {len(rows)} candidates are within 1 %" in answer
