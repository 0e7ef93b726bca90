"""OptoPrime and OPRO on a multi-objective task: the prompt shows the front and asks to
dominate or extend it; single-objective prompts stay as they were, byte for byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from optimizers._front_prompt import FrontMemory
from optimizers.opro import OPRO
from optimizers.optoprime import OptoPrime
from trace_core import Feedback, Objectives, Parameter, backward, bundle, node
from trace_core.errors import ConfigError
from trace_core.llm import ScriptedLLM
from trace_core.spaces import Float, Int, Text

SNAPSHOTS = Path(__file__).parent / "snapshots"
OBJECTIVES = {"val_acc": "maximize", "n_params": "minimize"}
#: (width, prompt suffix, val_acc, n_params): three on the front, one dominated, one failed
TRIED = [(16, "", 0.90, 1200.0), (64, " Think step by step.", 0.95, 5400.0), (8, "", 0.80, 800.0),
         (32, "", 0.85, 3000.0), (4, "", None, None)]


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("TRACETUNE_UPDATE_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing {path}; create it with TRACETUNE_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), "prompt changed; review and rerun with TRACETUNE_UPDATE_SNAPSHOTS=1"


def params():
    width = Parameter(16, name="width", space=Int(1, 128), description="hidden units")
    prompt = Parameter("Answer the question.", name="prompt", space=Text(max_chars=200))
    return [width, prompt]


def feedback(acc, size):
    if acc is None:
        return Feedback.failure("training diverged")
    return Feedback(score=acc, metrics={"val_acc": acc, "n_params": size}, text=f"{size:g} parameters")


def observe_all(opt):
    for width, suffix, acc, size in TRIED:
        opt.observe({"width": width, "prompt": "Answer the question." + suffix}, feedback(acc, size))


@bundle
def train(width, prompt):
    """Trains a network of this width (offline stand-in)."""
    return {"val_acc": 0.9, "n_params": 100.0 * width}


def render(messages):
    return "\n\n".join(f"===== {m['role']} =====\n{m['content']}" for m in messages)


def optoprime_prompt(**options):
    ps = params()
    opt = OptoPrime(ps, None, objective="Train a small accurate network.", memory=2, **options)
    observe_all(opt)
    out = train(*ps)
    return render(opt.messages(backward(out, Feedback(score=0.9, metrics={"val_acc": 0.9, "n_params": 1600.0})))[0])


def opro_prompt(**options):
    opt = OPRO(params(), None, objective="Train a small accurate network.", **options)
    observe_all(opt)
    return render(opt.messages())


def test_single_objective_opro_prompt_matches_the_snapshot():
    check_snapshot("opro_prompt.md", opro_prompt())


def test_optoprime_front_prompt_matches_the_snapshot():
    check_snapshot("optoprime_front_prompt.md", optoprime_prompt(objectives=OBJECTIVES))


def test_opro_front_prompt_matches_the_snapshot():
    check_snapshot("opro_front_prompt.md", opro_prompt(objectives=OBJECTIVES, constraints=["n_params <= 6000"]))
