"""OptoPrime: an LLM reads the traced program and its feedback and proposes new values.

The prompt is the parameters' minimal subgraph written as a short program (see
:mod:`optimizers.optoprime.view`) under a token budget, with the values tried so
far and what happened to the last reply; the reply has one marked block per
variable (or is JSON sent as structured output where that fits, see
:mod:`optimizers._suggestion`); bad replies go back to the model with the fix in
plain words a bounded number of times, within the token budget (see
:mod:`optimizers._reply`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from optimizers._front_prompt import FrontMemory
from optimizers.llm import LLMOptimizer
from optimizers._values import to_json_values
from optimizers.base import Update
from optimizers.optoprime.format import cut, estimate_tokens, format_feedback, format_json
from optimizers.optoprime.view import LEVELS, GraphView
from trace_core import Objectives, Parameter, prompts
from trace_core.errors import ConfigError
from trace_core.feedback import Direction, Feedback, as_feedback

__all__ = ["OptoPrime"]

log = logging.getLogger(__name__)

_MIN_LINE_TOKENS = 8  # a shown line costs at least this (code line + its value): skip hopeless levels early


class OptoPrime(LLMOptimizer):
    """Propose new values by showing an LLM the traced program and its feedback.

    Args:
        parameters: the parameters to change (unique names).
        llm: anything with the ``LLM`` protocol's ``complete``.
        objective: what to achieve, in words (the prompt's instruction).
        token_budget: the most prompt tokens to send; values are cut, similar ops
            collapsed and middle lines dropped until the prompt fits.
        max_repairs: how many times a bad reply goes back to the model with its error.
        memory: how many past (values, feedback) pairs from :meth:`observe` to show.
        temperature: sampling temperature (None: the model's default); it rises after
            steps that changed nothing.
        max_tokens: the reply's token limit (default: from the variables' sizes).
        challenge: when a reply declines to change anything, ask once more in the same conversation
            (a declined step is a lost step; a worse try is only rolled back). False accepts a decline.
        count_tokens: token counter for the budget (default: a fast, high estimate).
        objectives: ``{"metric": "maximize" | "minimize"}`` on a multi-objective task (read
            from ``Feedback.metrics``): the prompt shows the front and asks to improve it.
        constraints: ``"metric >= bound"`` / ``"metric <= bound"``; infeasible candidates
            are left off the front.
        max_front: the most front members the prompt lists.

    Example:
        >>> from trace_core import backward, node
        >>> from trace_core.llm import ScriptedLLM
        >>> from trace_core.spaces import Float
        >>> x = Parameter(1.0, name="x", space=Float(-10, 10))
        >>> y = x * node(2.0)
        >>> llm = ScriptedLLM(["[[ ## reasoning ## ]]\\ny should be 6\\n[[ ## x ## ]]\\n3"])
        >>> opt = OptoPrime([x], llm)
        >>> opt.step(backward(y, "y should be 6")).values, x.value
        ({'x': 3.0}, 3.0)
    """

    def __init__(self, parameters: Iterable[Parameter], llm: Any, *, objective: str | None = None,
                 token_budget: int = 8000, max_repairs: int = 2, memory: int = 5, temperature: float | None = None,
                 count_tokens: Callable[[str], int] | None = None, direction: Direction = "maximize",
                 max_tokens: int | None = None, challenge: bool = True, objectives: Mapping[str, str] | None = None,
                 constraints: Sequence[Any] = (), max_front: int = 6):
        super().__init__(parameters, llm, objective=objective, max_repairs=max_repairs, temperature=temperature,
                         direction=direction, max_tokens=max_tokens, challenge=challenge)
        self.front = FrontMemory(Objectives.of(objectives, constraints), max_shown=max_front) if objectives else None
        if token_budget < 1 or memory < 0:
            raise ConfigError(f"OptoPrime needs token_budget >= 1 and memory >= 0; got {token_budget}, {memory}")
        self.token_budget = token_budget
        self.count_tokens = count_tokens or estimate_tokens
        self._memory: deque[tuple[dict[str, Any], Feedback]] = deque(maxlen=memory)

    # -- the prompt -----------------------------------------------------------------
    def _memory_text(self, limit: int) -> str:
        """The values tried with their feedback, then what happened to the last reply."""
        parts = []
        if self._memory:
            entries = []
            for i, (values, feedback) in enumerate(self._memory, 1):
                shown = ", ".join(f"{k}={format_json(v, limit)}" for k, v in values.items())
                entries.append(f"{i}. {shown}\n   feedback: {format_feedback(feedback, limit * 2)}")
            parts.append(prompts.render("optoprime/memory", entries="\n".join(entries)).strip())
        notes = self.notes()
        if notes:
            parts.append(prompts.render("reply/last_step", notes=cut(notes, limit * 20)).strip())
        return "\n" + "\n\n".join(parts) + "\n" if parts else ""

    def messages(self, propagated: Mapping[Parameter, Any] | None = None) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """The chat messages for ``propagated`` under the token budget, and how they were
        made (``prompt_level``: 0 = nothing shortened; ``prompt_tokens_estimate``)."""
        view = GraphView(self.parameters, propagated)
        system = prompts.render("optoprime/system", reply_format=self.reply_instructions())
        default = "Change the variables so that the outputs get better feedback."
        scored = any(fb.score is not None for fb in (*view.feedback, *(fb for _, fb in self._memory)))
        instruction = self.goal(default) if scored else (self.objective or default).strip()  # no score: no direction
        if self.front is not None:
            instruction = self.front.goal(self.objective or default)
            current = to_json_values(self.by_name, self.values())
        fixed = {"instruction": cut(instruction, 4000), "variables": view.variables(),
                 "reply_reminder": self.reply_reminder()}
        base = self.count_tokens(system) + self.count_tokens(fixed["instruction"] + fixed["variables"])
        user, tokens, chosen = "", 0, 0
        for chosen, level in enumerate(LEVELS):
            last = chosen == len(LEVELS) - 1
            order = view.visible(level)
            if not last and base + _MIN_LINE_TOKENS * len(order) > self.token_budget:
                continue
            sections = view.sections(level, order)
            memory = self._memory_text(level.value_chars)
            front = self.front.section(current, level.value_chars) if self.front is not None else ""
            user = prompts.render("optoprime/user", **fixed, **sections, memory=memory, front=front).rstrip() + "\n"
            tokens = self.count_tokens(system) + self.count_tokens(user)
            if tokens <= self.token_budget:
                break
        else:
            log.warning("OptoPrime's prompt is %d tokens (estimate), over its budget of %d: the variables, outputs "
                        "and feedback alone are too long", tokens, self.token_budget)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return messages, {"prompt_level": chosen, "prompt_tokens_estimate": tokens}

    # -- the optimizer contract -----------------------------------------------------------
    def propose(self, propagated: Mapping[Parameter, Any] | None = None, k: int = 1) -> list[Update]:
        """Ask the LLM for ``k`` updates (``n=k`` in one call); bad replies are repaired or
        become no-change updates with the reason. :class:`BudgetExceeded` propagates."""
        messages, info = self.messages(propagated)
        return self.ask(messages, k, info, token_budget=self.token_budget, count_tokens=self.count_tokens)

    def observe(self, values: Mapping[str, Any], feedback: Any, *, update: Update | None = None) -> None:
        """Remember ``values`` and their feedback (the last ``memory`` pairs are shown)."""
        fb = as_feedback(feedback)
        self.observed(values, fb, update)
        if self._memory.maxlen:
            self._memory.append((to_json_values(self.by_name, values), fb))
        if self.front is not None:
            self.front.observe(to_json_values(self.by_name, values), fb)

    def state_dict(self) -> dict[str, Any]:
        front = {} if self.front is None else {"front": self.front.state_dict()}
        return {"memory": [{"values": v, "feedback": fb.model_dump(mode="json")} for v, fb in self._memory],
                **front, **self.reply_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        entries = state.get("memory", [])
        try:
            restored = [(dict(e["values"]), Feedback.model_validate(e["feedback"])) for e in entries]
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"OptoPrime state has a malformed memory ({e}); expected "
                              '{"memory": [{"values": {...}, "feedback": {...}}, ...]}') from None
        self._memory.clear()
        self._memory.extend(restored)
        if self.front is not None:
            self.front.load_state_dict(state.get("front", ()))
        self.load_reply_state(state)
