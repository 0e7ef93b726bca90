"""OptoPrime's prompt: snapshot, determinism, naming, shortening and the token budget."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
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


# -- what an LLM reads without stumbling --------------------------------------------------------
def _user(params, propagated, **options):
    return OptoPrime(params, None, **options).messages(propagated)[0][1]["content"]


def _section(prompt, title):
    return prompt.split(f"# {title}\n", 1)[1].split("\n\n# ", 1)[0]


def test_a_higher_score_is_better_only_when_there_is_a_score():
    p = Parameter(1.0, name="p", space=Float(0, 5))
    y = p * node(2.0)
    assert "score is better" not in _user([p], backward(y, "should be 6"), objective="Reach 6.")
    assert _section(_user([p], backward(y, "should be 6")), "Instruction") == (
        "Change the variables so that the outputs get better feedback.")
    assert "A higher score is better." in _user([p], backward(y, Feedback(score=0.5)))
    lower = OptoPrime([p], None, direction="minimize").messages(backward(y, Feedback(score=0.5)))[0][1]["content"]
    assert "A lower score is better." in lower


@bundle(trainable=True)
def reciprocal(x):
    return 1 / x


def test_a_trainable_functions_traceback_appears_once():
    from trace_core import TracedError

    with pytest.raises(TracedError) as info:
        reciprocal(0)
    enode = info.value.exception_node
    told = Feedback.failure(f"the workflow raised {enode.description.splitlines()[0]}", error=enode.description)
    prompt = _user([reciprocal.parameter], backward(enode, told))
    assert prompt.count("return 1 / x") == 2  # once in the code variable, once in the traceback
    assert _section(prompt, "Outputs") == "exception0 = raised ZeroDivisionError: division by zero"
    assert "Traceback" in _section(prompt, "Feedback")
    assert _section(prompt, "Code") == "exception0 = reciprocal(x=0)"
    alone = _user([reciprocal.parameter], backward(enode, "it failed"))  # the feedback does not carry it
    assert "Traceback" in _section(alone, "Outputs") and alone.count("return 1 / x") == 2


def test_llm_op_description_has_one_tag_no_model_and_only_the_arguments_shown():
    from trace_core.llm import ScriptedLLM, llm_op

    prompt = Parameter("Solve it.", name="system_prompt", space=Text())
    llm = ScriptedLLM(["42"])
    llm.model = "scripted-secret-model"
    solver = llm_op(llm, system=prompt, name="solver")
    out = solver(node("what is 6*7?", name="question"))
    text = _user([prompt], backward(out, "wrong"))
    code, definitions = _section(text, "Code"), _section(text, "Definitions")
    assert code == 'solver0 = solver(system=system_prompt, user=None, inputs={"input": question})'
    assert definitions.startswith("[solver] ") and definitions.count("[solver]") == 1
    assert "scripted" not in definitions
    named = set(re.findall(r"`(\w+)`", definitions))
    assert named <= {"system", "user", "inputs"} and all(f"{w}=" in code for w in named)


def test_code_lines_keep_keyword_names():
    p = Parameter("Be brief.", name="p", space=Text())
    answer = generate(p, question=node("two plus two", name="question"))
    score = grade(answer, expected=node("FOUR", name="expected"))
    code = _section(_user([p], backward(score, "wrong")), "Code").splitlines()
    assert code == ["generate0 = generate(prompt=p, question=question)",
                    "grade1 = grade(text=generate0, expected=expected)"]


def test_plain_arguments_are_shown():
    @bundle(trainable=True)
    def slugify(text):
        """Makes a URL slug."""
        return text.lower().replace(" ", "-")

    short, long = slugify("Hello World"), slugify("A much longer title that will not fit inline at all")
    prompt = _user([slugify.parameter], backward([(short, "should end with !"), (long, "ok")]))
    code = _section(prompt, "Code").splitlines()
    assert code[0] == 'slugify0 = slugify(text="Hello World")'
    name = code[1].split("text=", 1)[1].rstrip(")")
    assert _section(prompt, "Inputs") == f'{name} = "A much longer title that will not fit inline at all"'


def test_a_unique_user_name_stays_alone_and_counters_get_a_separator():
    w = Parameter(1.0, name="w", space=Float(0, 5))
    y = w
    for i in range(10):
        y = y * node(i, name=f"k{i}")
    text = _user([w], backward(y, "x"))
    assert _section(text, "Inputs").splitlines() == [f"k{i} = {i}" for i in range(10)]
    twice = w * node(2, name="k1") + node(3, name="k1")
    inputs = _section(_user([w], backward(twice, "x")), "Inputs").splitlines()
    assert inputs == ["k1_0 = 2", "k1_2 = 3"]  # one name twice: the counter after a separator
