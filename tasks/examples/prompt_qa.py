"""Prompt optimization on a small QA set shipped in the repository.

The parameter is the system prompt of an LLM call; the score is exact match. With
no model configured the task uses :class:`SimulatedStudent`, a deterministic
offline reader whose answers depend on the instructions it gets (it reasons only
when told to, and adds chatter unless told to answer with the bare answer), so
prompt optimization has something real to find without any network.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from pydantic import Field

from tasks.base import BaseTask, Seed, TaskOptions, multi_objective_option
from trace_core import Feedback, Parameter
from trace_core.spaces import Text

__all__ = ["PromptQATask", "SimulatedStudent", "load_qa", "normalize"]

#: the objectives ``multi_objective=True`` declares
OBJECTIVES = {"exact_match": "maximize", "prompt_tokens": "minimize"}

DEFAULT_PROMPT = "You are a helpful assistant."


def load_qa() -> list[dict[str, str]]:
    """The shipped QA set: ``question``, ``answer``, ``kind`` (fact or multi-step)."""
    text = resources.files("tasks.examples").joinpath("data/qa.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def normalize(text: str) -> str:
    text = str(text).strip().lower()
    text = re.sub(r"^(the answer is|answer:)\s*", "", text)
    return text.strip(" .!\"'")


class SimulatedStudent:
    """A deterministic stand-in for an LLM that reads its system prompt literally.

    - multi-step questions are answered right only when told to think step by step
      (or carefully); otherwise the last step is skipped;
    - the reply is the bare answer only when told to give only the (final) answer;
      "concise" gives "The answer is X."; otherwise chatty text around it.
    """

    def __init__(self) -> None:
        self.answers = {item["question"]: item for item in load_qa()}

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        system = " ".join(m["content"] for m in messages if m["role"] == "system").lower()
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        item = self.answers.get(question.strip())
        if item is None:
            return "I don't know."
        answer = item["answer"]
        careful = "step by step" in system or "carefully" in system
        if item["kind"] == "multi-step" and not careful:
            nums = [int(n) for n in re.findall(r"\d+", question)]
            answer = str(nums[0] * nums[1]) if len(nums) >= 2 else answer  # forgets the subtraction
        bare = "only" in system and "answer" in system
        if bare:
            return answer
        if "concise" in system or "short" in system:
            return f"The answer is {answer}."
        reasoning = "Let me work through it step by step. " if careful else ""
        return f"{reasoning}Great question! I believe it is {answer}, I hope this helps."


class PromptQATask(BaseTask):
    """Optimize the system prompt of a question-answering LLM call.

    Example:
        >>> task = PromptQATask()
        >>> task.evaluate(task.train[0], task.run(task.train[0])).score
        0.0
    """

    name = "prompt_qa"
    description = ("Write the system prompt of an assistant that answers short questions; an answer counts "
                   "only if it is exactly the expected answer (case and trailing punctuation ignored). The score "
                   "is the fraction of questions answered right: higher is better, and 1.0 is the best possible.")
    direction = "maximize"
    natural_objectives = OBJECTIVES

    class Options(TaskOptions):
        model: str | None = Field(None, min_length=1, description="the answering LLM (a litellm model string); "
                                  "default: an offline simulated student")
        prompt: str = Field(DEFAULT_PROMPT, max_length=2000, description="the starting system prompt")
        n_train: int = Field(12, ge=1, le=23, description="questions to learn from (the other ones score candidates)")
        seed: Seed = Field(0, description="shuffles the questions before the split")
        multi_objective: bool = multi_objective_option(OBJECTIVES)

    def __init__(self, model: str | None = None, prompt: str = DEFAULT_PROMPT, n_train: int = 12, seed: int = 0,
                 multi_objective: bool = False):
        super().__init__(model=model, prompt=prompt, n_train=n_train, seed=seed,
                         **({"multi_objective": True} if multi_objective else {}))
        import random

        from trace_core.llm import ScriptedLLM, llm_op, resolve_llm

        self.llm = resolve_llm(model) if model else ScriptedLLM(SimulatedStudent())
        self.prompt = Parameter(prompt, name="system_prompt", space=Text(max_chars=2000),
                                description="the system prompt of the assistant")
        self.ask = llm_op(self.llm, system=self.prompt, name="answer", temperature=0)
        items = load_qa()
        random.Random(seed).shuffle(items)
        self._train, self._val = items[:n_train], items[n_train:]
        self._tokens: dict[str, int] = {}  # prompt -> its token count

    @property
    def train(self) -> list[dict[str, str]]:
        return self._train

    @property
    def val(self) -> list[dict[str, str]]:
        return self._val

    def parameters(self) -> list[Parameter]:
        return [self.prompt]

    def run(self, example: dict[str, str]) -> Any:
        return self.ask(example["question"])

    def evaluate(self, example: dict[str, str], output: Any) -> Feedback:
        reply = str(getattr(output, "value", output))
        ok = normalize(reply) == normalize(example["answer"])
        text = (f"correct (score 1): {example['answer']!r}" if ok else
                f"wrong (score 0; 1 is the best): the reply was {reply[:200]!r}, the expected answer is "
                f"{example['answer']!r} (only the exact answer counts)")
        metrics = {"exact_match": float(ok), "prompt_tokens": float(self.prompt_tokens(self.prompt.value))}
        return Feedback(score=float(ok), metrics=metrics, text=text)

    def prompt_tokens(self, prompt: str) -> int:
        """Tokens the system prompt costs on every call, counted by the answering LLM."""
        if prompt not in self._tokens:
            self._tokens[prompt] = self.llm.count_tokens([{"role": "system", "content": prompt}])
        return self._tokens[prompt]
