"""OptoPrime's prompt: snapshot, determinism, naming, shortening and the token budget."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from optimizers.optoprime import OptoPrime
from optimizers.optoprime.view import GraphView
from trace_core import Feedback, Parameter, backward, bundle, catching, node
from trace_core.spaces import Choice, Float, Text

SNAPSHOT = Path(__file__).parent / "snapshots" / "optoprime_prompt.md"


@bundle
def generate(prompt, question):
    """Asks a model the question with the prompt (offline stand-in)."""
    return f"{prompt} -> {question.upper()}"


@bundle
def grade(text, expected):
    """Scores the answer: 1 when the expected text appears in it."""
    return float(expected in text)


def fixed_graph():
    """A small graph touching every section: table ops, bundles, inputs, constants, two outputs."""
    scale = Parameter(2.0, name="scale", space=Float(0.0, 10.0), description="how much to amplify")
    prompt = Parameter("Answer briefly.", name="prompt", space=Text(max_chars=120))
    mode = Parameter("fast", name="mode", space=Choice(["fast", "careful"]))
    signal = node([1.0, 2.0, 3.0], name="signal")
    energy = (signal[0] * scale + node(0.5)) ** 2
    answer = generate(prompt, node("what is the capital of France?", name="question"))
    score = grade(answer, node("PARIS", name="expected"))
    result = backward([(energy, Feedback(score=6.25, text="energy should be 9")),
                       (score, Feedback(score=0.0, metrics={"length": 49.0}, text="wrong: should say PARIS"))])
    return [scale, prompt, mode], result


def render():
    params, result = fixed_graph()
    opt = OptoPrime(params, None, objective="Reach energy 9 and answer right.", memory=1)
    opt.observe({"scale": 1.0, "prompt": "Answer.", "mode": "fast"}, Feedback(score=0.0, text="energy 2.25"))
    messages, info = opt.messages(result)
    schema = json.dumps(opt.reply_format.model_json_schema(), indent=1, sort_keys=True)
    text = "\n\n".join(f"===== {m['role']} =====\n{m['content']}" for m in messages)
    return f"{text}\n===== reply schema =====\n{schema}\n", info


def test_prompt_matches_the_snapshot():
    text, info = render()
    if os.environ.get("TRACETUNE_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.exists(), f"missing {SNAPSHOT}; create it with TRACETUNE_UPDATE_SNAPSHOTS=1"
    assert text == SNAPSHOT.read_text(encoding="utf-8"), "prompt changed; review and rerun with TRACETUNE_UPDATE_SNAPSHOTS=1"
    assert info["prompt_level"] == 0


def test_same_graph_same_prompt_byte_for_byte():
    first = render()[0]
    fixed_graph()  # an unrelated graph in between must not shift any name
    assert render()[0] == first


def test_prompt_is_the_same_in_another_process():
    code = ("import sys; sys.path.insert(0, %r); import test_optoprime_prompt as t; "
            "sys.stdout.write(t.render()[0])" % str(Path(__file__).parent))
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         cwd=Path(__file__).parents[2]).stdout
    assert out == render()[0]


def test_names_follow_topological_order_and_spare_parameter_names():
    a = Parameter(1.0, name="add0", space=Float(0, 5))
    y = (a + node(1.0)) * node(3.0) + node(2.0)
    code = GraphView([a], backward(y, "small")).sections(OptoPrimeLevels()[0])["code"]
    assert code.splitlines() == ["add0_ = add0 + 1.0", "mul1 = add0_ * 3.0", "add2 = mul1 + 2.0"]


def OptoPrimeLevels():
    from optimizers.optoprime.view import LEVELS

    return LEVELS


def test_exceptions_and_plain_mappings_render():
    x = Parameter(0.0, name="x", space=Float(-1, 1))
    with catching():
        broken = node(1.0) / x
    result = backward(broken, "it crashed")
    plain = {x: result[x]}  # a Mapping[Parameter, Propagated], not a Propagation
    prompt = OptoPrime([x], None).messages(plain)[0][1]["content"]
    assert "exception0 = 1.0 / x" in prompt and "raised ZeroDivisionError" in prompt and "it crashed" in prompt
    assert "(no feedback yet)" in OptoPrime([x], None).messages(None)[0][1]["content"]


WORDS = "the model reads a prompt and answers with a short text about cities rivers and numbers".split()


def random_graph(n, seed=0):
    rng = random.Random(seed)
    long_value = " ".join(rng.choice(WORDS) for _ in range(600))
    w = Parameter(long_value, name="w", space=Text())  # a long value: never cut
    xs = [w]
    for _ in range(n):
        a = rng.choice(xs[-30:])
        kind = rng.randrange(4)
        if kind == 0:
            xs.append(a + node(" ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 60)))))
        elif kind == 1:
            xs.append(a[: rng.randrange(1, 400)])
        elif kind == 2:
            xs.append(a.upper())  # getattr then call
        else:
            xs.append(a * 2)
    out = generate(xs[-1], node("q"))
    return w, out


def _tiktoken(name):
    spec = importlib.util.find_spec("litellm")
    if spec is None or importlib.util.find_spec("tiktoken") is None:
        pytest.skip("litellm/tiktoken not installed")
    os.environ.setdefault("TIKTOKEN_CACHE_DIR",
                          str(Path(spec.submodule_search_locations[0]) / "litellm_core_utils" / "tokenizers"))
    import tiktoken

    return tiktoken.get_encoding(name)


@pytest.mark.parametrize("budget", [2000, 8000])
def test_big_graph_prompt_stays_under_the_budget(budget):
    w, out = random_graph(3000)
    feedback = "the final text should mention Paris " * 20
    opt = OptoPrime([w], None, token_budget=budget)
    messages, info = opt.messages(backward(out, feedback))
    user = messages[1]["content"]
    assert info["prompt_level"] > 0 and info["prompt_tokens_estimate"] <= budget
    for enc in ("cl100k_base", "o200k_base"):  # the tokenizers litellm's token_counter uses for OpenAI models
        tokens = sum(len(_tiktoken(enc).encode(m["content"])) for m in messages)
        assert tokens <= budget, enc
    assert w.value in user  # the parameter's value is never cut
    assert feedback.strip() in user and "generate" in user.split("# Outputs", 1)[1]
    assert "more like this" in user or "left out" in user


def test_collapsing_keeps_first_and_last_of_a_run():
    p = Parameter(1.0, name="p", space=Float(0, 10))
    y = p
    for i in range(500):
        y = y * 1.01 + float(i)
    text = OptoPrime([p], None, token_budget=1500).messages(backward(y, "smaller"))[0][1]["content"]
    code = text.split("# Code\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert code == ["mul0 = p * 1.01", "add1 = mul0 + 0.0", "# … 498 more blocks like the 2 lines above",
                    "mul998 = add997 * 1.01", "add999 = mul998 + 499.0"]


def test_a_batch_of_outputs_fits_the_budget_with_every_output_and_feedback():
    p = Parameter("Be brief.", name="prompt", space=Text())
    pairs = [(generate(p, node(f"question {i} about topic {7 * i} " * 10)),
              Feedback(score=0.0, text=f"wrong: expected answer {i} with more detail " * 8)) for i in range(100)]
    messages, info = OptoPrime([p], None).messages(backward(pairs))
    assert info["prompt_tokens_estimate"] <= 8000
    outputs, feedback = messages[1]["content"].split("# Outputs\n", 1)[1].split("\n\n# Feedback\n")
    feedback = feedback.split("\nNow write your reply")[0]
    assert len(outputs.splitlines()) == 100 and len(feedback.strip().splitlines()) == 100
    assert all(f"expected answer {i} " in line for i, line in enumerate(feedback.strip().splitlines()))
