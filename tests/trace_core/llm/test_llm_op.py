"""llm_op: an LLM call as a traced op whose prompt Parameters are parents of every output."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from trace_core import ExceptionNode, Parameter, TracedError, backward, catching, no_trace, node, using
from trace_core.llm import ScriptedLLM, ServerError, llm_op
from trace_core.spaces import Text


class Verdict(BaseModel):
    label: str


def test_prompt_parameter_is_a_parent_and_receives_feedback():
    prompt = Parameter("Answer in one word.", name="system_prompt", space=Text())
    llm = ScriptedLLM(lambda messages: f"{len(messages)} messages")
    ask = llm_op(llm, system=prompt, temperature=0)
    question = node("Capital of France?", name="question")
    out = ask(question)
    assert out.value == "2 messages"
    assert any(p is prompt for p in out.parents) and any(p is question for p in out.parents)
    assert llm.calls[-1] == [{"role": "system", "content": "Answer in one word."},
                             {"role": "user", "content": "Capital of France?"}]
    assert llm.requests[-1].temperature == 0
    propagated = backward(out, "too long")
    assert propagated[prompt].feedback[0].text == "too long"
    assert ask.parameters == [prompt] and out.op.name == "llm_call"


def test_candidate_prompts_via_using_and_a_template_parameter():
    prompt = Parameter("v1", name="sys")
    template = Parameter("Q: {question} ({lang})", name="user_template")
    llm = ScriptedLLM(lambda messages: messages[0]["content"] + " | " + messages[1]["content"])
    ask = llm_op(llm, system=prompt, user=template, name="qa")
    with using({"sys": "v2"}):
        out = ask(question="why?", lang="en")
    assert out.value == "v2 | Q: why? (en)" and prompt.value == "v1"
    assert {id(p) for p in out.parents} >= {id(prompt), id(template)}
    assert set(backward(out, "ok")) >= {prompt, template}


def test_structured_value_errors_and_untraced_calls():
    prompt = Parameter("Classify.", name="classifier_prompt")
    ask = llm_op(ScriptedLLM(['{"label": "spam"}', ServerError("down"), "plain"]), system=prompt,
                 response_format=Verdict)
    assert ask("buy now").value == Verdict(label="spam")
    with catching():
        failed = ask("hello")
    assert isinstance(failed, ExceptionNode) and any(p is prompt for p in failed.parents)
    with pytest.raises(TracedError):
        llm_op(ScriptedLLM([ServerError("down")]), system=prompt)("x")
    with no_trace():
        assert llm_op(ScriptedLLM(["plain"]), system=prompt)("x") == "plain"
    with pytest.raises(TypeError, match="at most one positional"):
        ask("a", "b")


def test_a_template_input_that_is_missing_is_feedback_naming_it():
    template = Parameter("Q: {question}", name="qa_template")
    ask = llm_op(ScriptedLLM(["never asked"]), user=template)
    with catching():
        failed = ask(topic="geography")
    assert isinstance(failed, ExceptionNode) and any(p is template for p in failed.parents)
    assert "needs the input 'question'" in failed.description and "['topic']" in failed.description
