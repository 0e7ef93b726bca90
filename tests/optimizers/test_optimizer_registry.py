"""Optimizers by name: one registry, imported only when used, with the run's knowledge
(LLM, seed, vocabulary, objective, templates) handed to what each optimizer takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import optimizers
from optimizers import Evolution, Search
from optimizers.registry import OPTIMIZERS, create, is_registered, optimizer_names, register
from trace_core import Parameter
from trace_core.errors import ConfigError
from trace_core.llm import ScriptedLLM
from trace_core.spaces import Float, Text

ROOT = Path(__file__).resolve().parents[2]


def params() -> list[Parameter]:
    return [Parameter(0.5, name="x", space=Float(0, 1)), Parameter("be brief", name="prompt", space=Text())]


def test_listing_and_importing_the_package_import_no_optimizer() -> None:
    code = ("import sys, json, optimizers; from optimizers.registry import optimizer_names; names = optimizer_names();"
            "print(json.dumps([names, sorted(m for m in sys.modules if m.startswith(('optimizers.', 'optuna')))]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    names, modules = json.loads(out.stdout)
    assert {"default", "search", "optoprime", "opro", "evolution"} <= set(names)
    assert modules == ["optimizers.base", "optimizers.composite", "optimizers.registry"]


def test_the_package_names_are_the_registered_classes() -> None:
    for name, target in OPTIMIZERS.builtin_targets().items():
        module, _, attr = target.partition(":")
        assert getattr(optimizers, attr) is getattr(__import__(module, fromlist=[attr]), attr), name
    with pytest.raises(AttributeError, match="no attribute 'Adam'"):
        optimizers.Adam  # noqa: B018


def test_each_optimizer_gets_what_its_signature_takes() -> None:
    search = create("search", params()[:1], seed=3, llm=ScriptedLLM([]), vocabulary=["a"], objective="o")
    assert isinstance(search, Search) and search.sampler_name == "tpe"
    evolution = create("evolution", params()[1:], seed=1, vocabulary=["short"], objective="shorter",
                       templates={"mutate": "x"})
    assert isinstance(evolution, Evolution) and evolution.objective == "shorter" and evolution.templates == {"mutate": "x"}
    opro = create("opro", params(), llm=ScriptedLLM([]), objective="be exact")
    assert type(opro).__name__ == "OPRO" and opro.objective == "be exact"
    assert create("opro", params(), {"objective": "mine"}, llm=ScriptedLLM([]), objective="run's").objective == "mine"


def test_default_with_an_llm_drops_the_options_only_search_takes() -> None:
    opt = create("default", params(), {"sampler": "cmaes"}, llm=ScriptedLLM([]))
    assert type(opt).__name__ == "OptoPrime"


@pytest.mark.parametrize("name", ["optoprime", "opro"])
def test_an_llm_optimizer_without_an_llm_says_how_to_set_one(name: str) -> None:
    with pytest.raises(ConfigError, match=f"the {name} optimizer needs an LLM: set TRACETUNE_LLM"):
        create(name, params())


def test_unknown_names_and_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown optimizer 'adam'; registered optimizers: default, evolution"):
        create("adam", params())
    with pytest.raises(ConfigError, match="the search optimizer does not take colour; it takes .*sampler"):
        create("search", params()[:1], {"colour": "red"})


def test_register_adds_a_name_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OPTIMIZERS, "targets", dict(OPTIMIZERS.targets))
    register("random_search", "optimizers.search:Search")
    assert is_registered("random_search") and "random_search" in optimizer_names()
    assert isinstance(create("random_search", params()[:1], {"sampler": "random"}), Search)


def test_older_names_still_resolve() -> None:
    from agents import factory
    from optimizers.llm import LLMOptimizer

    assert optimizers.LLMOptimizer is LLMOptimizer
    assert {"default", "search", "evolution"} <= set(factory.OPTIMIZERS)
