"""The nas task under the optimize() loop: Search over the Json schema, OptoPrime over code."""

from __future__ import annotations

import json

from agents.loop import optimize
from optimizers.optoprime import OptoPrime
from optimizers.search import Search
from trace_core import Budget
from trace_core.llm import ScriptedLLM
from tasks.nas import Architecture, NASTask

FAST = dict(max_train=200, epochs=2, lr=1e-2)


def test_search_samples_valid_architectures_from_the_schema():
    task = NASTask("digits", **FAST)
    opt = Search(task.parameters(), sampler="random", seed=1, pruner="none")
    res = optimize(task, optimizer=opt, budget=Budget(max_evaluations=4), store="sqlite:///:memory:", seed=0)
    trials = opt.study.trials
    assert len(trials) == 4 and len({json.dumps(t.params, sort_keys=True) for t in trials}) == 4  # start + 3
    assert {"architecture.n_layers", "architecture.layers.3.skip"} <= set(trials[0].params)
    assert all(s is not None for h in res.history for s in h.candidate_scores)  # every sample builds and trains
    Architecture.model_validate(res.best_values["architecture"])


_WIDER = '''def build(in_features, n_classes):
    return nn.Sequential(nn.Linear(in_features, 128), nn.ReLU(), nn.Linear(128, n_classes))
'''
_BROKEN = '''def build(in_features, n_classes):
    return nn.Sequential(nn.Linear(in_features, 128), nn.ReLU(), nn.Linear(64, n_classes))
'''


def test_optoprime_rewrites_build_and_a_broken_proposal_is_a_scored_failure():
    task = NASTask("digits", mode="code", **FAST)
    replies = [json.dumps({"reasoning": r, "suggestion": {"architecture": code}, "no_change": False})
               for r, code in (("mismatched on purpose", _BROKEN), ("one wide layer", _WIDER))]
    llm = ScriptedLLM(replies)
    res = optimize(task, optimizer=OptoPrime(task.parameters(), llm), budget=Budget(max_steps=2),
                   store="sqlite:///:memory:")
    assert "def build(in_features, n_classes)" in llm.calls[0][-1]["content"]
    first, second = res.history[1], res.history[2]
    assert first.candidate_scores == [None] and not first.accepted
    assert "input width equals the previous layer" in llm.calls[1][-1]["content"] or second.accepted
    assert second.accepted and res.best_values["architecture"] == _WIDER
