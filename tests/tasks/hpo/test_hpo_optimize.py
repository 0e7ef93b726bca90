"""The hpo task under the optimize() loop: Search and OptoPrime with a scripted LLM."""

from __future__ import annotations

import json

from agents.loop import optimize
from optimizers.optoprime import OptoPrime
from optimizers.search import Search
from trace_core import Budget
from trace_core.llm import ScriptedLLM
from tasks.hpo import HPOTask


def _task() -> HPOTask:
    return HPOTask("digits", max_train=200, max_epochs=4, initial={"epochs": 2, "width": 16, "depth": 1})


def test_search_tunes_the_hyperparameters_end_to_end():
    task = _task()
    opt = Search(task.parameters(), sampler="random", seed=0, pruner="none")
    res = optimize(task, optimizer=opt, budget=Budget(max_evaluations=4), store="sqlite:///:memory:", seed=0)
    assert len(res.history) == 4 and res.stop_reason == "budget max_evaluations reached"
    trials = opt.study.trials
    assert len(trials) == 4 and len({json.dumps(t.params, sort_keys=True) for t in trials}) == 4  # start + 3
    assert {t.state.name for t in trials} == {"COMPLETE"}
    scores = [s for h in res.history for s in h.candidate_scores if s is not None]
    assert res.best_score == max(scores) and 0 < res.best_score <= 1
    assert set(res.best_values) == {p.name for p in task.parameters()}


def test_optoprime_reads_the_learning_curve_and_its_proposal_is_trained():
    task = _task()
    reply = {"reasoning": "near chance after 2 epochs: raise lr, train longer",
             "suggestion": {"lr": 0.02, "epochs": 4}, "no_change": False}
    llm = ScriptedLLM([json.dumps(reply)])
    res = optimize(task, optimizer=OptoPrime(task.parameters(), llm), budget=Budget(max_steps=1),
                   store="sqlite:///:memory:")
    prompt = llm.calls[0][-1]["content"]
    assert "learning curve (2 epochs" in prompt and "train_classifier(lr=lr, weight_decay=weight_decay" in prompt
    assert res.best_values["lr"] == 0.02 and res.best_values["epochs"] == 4
    assert res.best_score > res.initial_score
