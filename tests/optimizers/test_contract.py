"""The shared optimizer contract (:mod:`optimizers.testing`) on every built-in optimizer.

Search (each sampler), Evolution (word and LLM operators), the default composite
(Search + Evolution), OptoPrime and OPRO (with ScriptedLLM).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import optimizers
from optimizers import Composite, Evolution, Optimizer, Search
from optimizers.testing import OptimizerContract, raises
from trace_core import Parameter
from trace_core.llm import ScriptedLLM


def scripted() -> ScriptedLLM:
    """Answers every prompt with a new, valid suggestion in the shared reply format."""
    count = itertools.count()

    def reply(messages: Any) -> str:
        i = next(count)
        return json.dumps({"reasoning": "shorter and more exact", "no_change": False,
                           "suggestion": {"prompt": f"answer the question briefly and exact {i}"}})

    return ScriptedLLM(reply)


def _lazy(name: str) -> Callable[[Sequence[Parameter]], Optimizer]:
    def make(params: Sequence[Parameter]) -> Optimizer:
        return getattr(optimizers, name)(params, scripted())
    return make


def _cmaes(params: Sequence[Parameter]) -> Optimizer:
    if importlib.util.find_spec("cmaes") is None:
        pytest.skip("sampler='cmaes' needs the cmaes package, which is not installed")
    return Search(params, sampler="cmaes", seed=0)


FACTORIES: dict[str, Callable[[Sequence[Parameter]], Optimizer]] = {
    "search-tpe": lambda ps: Search(ps, sampler="tpe", seed=0),
    "search-random": lambda ps: Search(ps, sampler="random", seed=0),
    "search-gp": lambda ps: Search(ps, sampler="gp", seed=0),
    "search-cmaes": _cmaes,
    "evolution": lambda ps: Evolution(ps, seed=0, vocabulary=["briefly", "exact"]),
    "evolution-llm": lambda ps: Evolution(ps, seed=0, llm=scripted()),
    "composite": lambda ps: Composite([Search(ps[:4], seed=0), Evolution(ps[4:], seed=0)]),
    "optoprime": _lazy("OptoPrime"),
    "opro": _lazy("OPRO"),
}


class TestBuiltinOptimizers(OptimizerContract):
    @pytest.fixture(autouse=True, params=sorted(FACTORIES))
    def _factory(self, request: pytest.FixtureRequest) -> None:
        self.factory = FACTORIES[request.param]

    def make_optimizer(self, parameters: Sequence[Parameter]) -> Optimizer:
        return self.factory(parameters)


class _Lazy(OptimizerContract):
    """An optimizer that breaks the contract: propose changes the live values."""

    def make_optimizer(self, parameters: Sequence[Parameter]) -> Optimizer:
        class Sloppy(Search):
            def propose(self, propagated: Any = None, k: int = 1) -> list[Any]:
                updates = super().propose(propagated, k)
                self.apply(updates[0])
                return updates

        return Sloppy(parameters, sampler="random", seed=0)


def test_the_contract_catches_an_optimizer_that_breaks_it() -> None:
    with raises(AssertionError, match="propose must not touch the live parameters"):
        _Lazy().test_propose_returns_k_valid_updates()


def test_raises_checks_the_kind_and_the_message() -> None:
    with raises(AssertionError, match="ValueError was not raised"):
        with raises(ValueError):
            pass
    with raises(AssertionError, match="does not match"):
        with raises(ValueError, match="bound"):
            raise ValueError("other")
