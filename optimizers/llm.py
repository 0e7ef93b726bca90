"""The base class of optimizers that ask an LLM for new values (OptoPrime, OPRO, and
yours): subclass :class:`LLMOptimizer`, build the messages in :meth:`~optimizers.base.Optimizer.propose`
and let :meth:`LLMOptimizer.ask` turn the replies into validated updates."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from optimizers._parse import marker
from optimizers._repair import estimate_tokens
from optimizers._reply import suggest
from optimizers._suggestion import expected_reply_tokens, needs_blocks, reply_format as reply_instructions, reply_model
from optimizers._values import key_of, shown_values, to_json_values
from optimizers.base import Optimizer, Update
from trace_core import Parameter, prompts
from trace_core.errors import ConfigError
from trace_core.feedback import Direction, Feedback

__all__ = ["LLMOptimizer", "sends_schema"]


def sends_schema(llm: Any) -> bool:
    """Whether ``llm`` sends a ``response_format`` to its model as a native schema."""
    return bool(getattr(llm, "sends_schema", False))


class LLMOptimizer(Optimizer):
    """Base of optimizers that ask an LLM for suggestions (OptoPrime, OPRO): the LLM,
    the objective, the reply form and size, the repair bound, what happened to the last
    proposals (told in the next prompt), exploration when proposals stall, and
    :meth:`ask`, which turns messages into ``k`` validated updates.

    The reply form is the marked one (one ``[[ ## name ## ]]`` block per field) when a
    parameter holds code or long text, else JSON (sent as native structured output
    where the LLM has it). ``max_tokens`` (default: from the parameters'
    sizes) goes with every request. After a step that changed nothing, the temperature
    rises; after two, ``k`` is asked as three distinct choices and the prompt asks for a
    different direction. A reply that declines to change anything is challenged once
    (``challenge=False`` accepts it as it is; see :func:`optimizers._reply.suggest`).

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> from trace_core.spaces import Int
        >>> class Pick(LLMOptimizer):
        ...     def propose(self, propagated=None, k=1):
        ...         return self.ask([{"role": "user", "content": "Pick k."}], k, {})
        >>> k = Parameter(1, name="k", space=Int(1, 9))
        >>> Pick([k], ScriptedLLM(["[[ ## reasoning ## ]]\\nmore\\n[[ ## k ## ]]\\n4"])).propose()[0].values
        {'k': 4}
    """

    needs_llm = True

    def __init__(self, parameters: Iterable[Parameter], llm: Any, *, objective: str | None = None,
                 max_repairs: int = 2, temperature: float | None = None, direction: Direction = "maximize",
                 max_tokens: int | None = None, challenge: bool = True):
        super().__init__(parameters, direction=direction)
        if max_repairs < 0:
            raise ConfigError(f"max_repairs must be >= 0, got {max_repairs}")
        if max_tokens is not None and max_tokens < 16:
            raise ConfigError(f"max_tokens must be at least 16, got {max_tokens}")
        self.llm = llm
        self.objective = objective
        self.max_repairs = max_repairs
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.challenge = challenge  # ask once more when a reply declines to change anything
        self._reply_format: type[BaseModel] | None = None
        self.structured_output = True  # False once the provider refused the reply schema
        self.stalls = 0  # steps in a row whose proposals changed nothing
        self._notes: list[str] = []  # what happened to the last proposals, for the next prompt
        self._tried: set[str] = set()

    @property
    def reply_format(self) -> type[BaseModel]:
        """The reply's pydantic model (built once from the spaces), sent as structured output."""
        if self._reply_format is None:
            self._reply_format = reply_model(self.parameters)
        return self._reply_format

    @property
    def reply_form(self) -> str:
        """``"marked"`` when a value is code or long text (never escaped inside JSON), else ``"json"``
        (numbers, choices and short text: a small model writes them in JSON more reliably than
        under markers)."""
        return "marked" if needs_blocks(self.parameters) else "json"

    @property
    def sends_reply_schema(self) -> bool:
        """Whether the JSON reply's schema goes with the request as native structured output."""
        return self.reply_form == "json" and self.structured_output and sends_schema(self.llm)

    def reply_instructions(self, form: str | None = None) -> str:
        """How to write the reply (``form``: default :attr:`reply_form`)."""
        return reply_instructions(self.parameters, form or self.reply_form)

    def reply_reminder(self, form: str | None = None) -> str:
        """One line that closes a prompt: what to write now (small models follow the end of a prompt best)."""
        form = form or self.reply_form
        if form == "json":
            return prompts.render("reply/reminder_json").strip()
        return prompts.render("reply/reminder", markers=", ".join(marker(p.name) for p in self.parameters)).strip()

    @property
    def reply_tokens(self) -> int:
        """``max_tokens`` sent with each request."""
        return self.max_tokens or expected_reply_tokens(self.parameters)

    def goal(self, default: str) -> str:
        """The objective (or ``default``) and which way scores should go."""
        better = "higher" if self.direction == "maximize" else "lower"
        return f"{(self.objective or default).strip()} A {better} score is better."

    def notes(self) -> str:
        """What happened to the last proposals (empty before the first), for the next prompt."""
        notes = list(self._notes)
        if self.stalls >= 2:
            notes.append(prompts.render("reply/note_stuck", count=self.stalls).strip())
        return "\n".join(notes)

    def _exploration(self, k: int) -> tuple[float | None, int]:
        """Temperature and number of choices: higher and more after steps that changed nothing."""
        if not self.stalls:
            return self.temperature, k
        base = 0.7 if self.temperature is None else self.temperature
        return min(1.3, base + 0.2 * self.stalls), k if self.stalls < 2 else max(k, 3)

    def _pick(self, updates: list[Update], k: int) -> list[Update]:
        """``k`` of ``updates``: first those whose values are new (not tried, not another's), then the
        rest; the LLM calls of those left out are carried by the first one kept (so they are counted)."""
        live = to_json_values(self.by_name, self.values())
        seen = set(self._tried)
        fresh, rest = [], []
        for u in updates:
            key = key_of({**live, **to_json_values(self.by_name, u.values)})
            (fresh if u.values and key not in seen else rest).append(u)
            seen.add(key)
        kept, dropped = (fresh + rest)[:k], (fresh + rest)[k:]
        calls = tuple(c for u in dropped for c in u.llm_calls)
        return [dataclasses.replace(kept[0], llm_calls=kept[0].llm_calls + calls), *kept[1:]]

    def _told(self, updates: Sequence[Update]) -> None:
        """Remember what to tell the model next time about proposals that were not tried."""
        self._notes = []
        for u in updates:
            if not u.no_change:
                continue
            if u.meta.get("same_as_current"):
                same = shown_values(u.meta["same_as_current"])
                self._notes.append(prompts.render("reply/note_same", values=same).strip())
            elif u.meta.get("error"):
                error = " ".join(str(u.meta["error"]).split())
                self._notes.append(prompts.render("reply/note_failed", error=error[:300]).strip())
            else:
                reasoning = " ".join(u.reasoning.split())
                self._notes.append(prompts.render("reply/note_no_change", reasoning=reasoning[:200]).strip())
        self.stalls = 0 if any(not u.no_change for u in updates) else self.stalls + 1

    def observed(self, values: Mapping[str, Any], feedback: Feedback, update: Update | None) -> None:
        """Note that ``values`` were tried (subclasses call it from :meth:`observe`)."""
        data = to_json_values(self.by_name, values)
        self._tried.add(key_of(data))
        if update is not None and update.values:
            shown = shown_values(to_json_values(self.by_name, update.values))
            from optimizers.optoprime.format import format_feedback  # here: optoprime imports this module

            fb = " ".join(format_feedback(feedback, 300).split())
            self._notes.append(prompts.render("reply/note_tried", values=shown, feedback=fb).strip())

    def reply_state(self) -> dict[str, Any]:
        """What the next prompt will tell about the last replies (for ``state_dict``)."""
        return {"stalls": self.stalls, "notes": list(self._notes)}

    def load_reply_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`reply_state` (missing keys: a fresh start)."""
        self.stalls = int(state.get("stalls", 0) or 0)
        self._notes = [str(n) for n in state.get("notes", ())]

    def ask(self, messages: Sequence[Mapping[str, Any]], k: int, meta: Mapping[str, Any], *,
            token_budget: int | None = None, count_tokens: Callable[[str], int] | None = None) -> list[Update]:
        """``k`` updates from ``messages`` (see :func:`suggest`); repairs stay within ``token_budget``."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if self.llm is None:
            raise ConfigError(f"{type(self).__name__} needs an LLM to propose; pass llm= (for example "
                              "trace_core.llm.LiteLLM('openai/gpt-4o-mini')) or use Search without one")
        form = self.reply_form
        temperature, n = self._exploration(k)
        updates = suggest(self, self.llm, messages, k=n, max_repairs=self.max_repairs, form=form,
                          reply_format=self.reply_format if self.sends_reply_schema else None,
                          meta={"optimizer": type(self).__name__, **meta}, temperature=temperature,
                          max_tokens=self.reply_tokens, repair_template="reply/repair",
                          repair_variables={"reply_format": self.reply_instructions(form)},
                          token_budget=token_budget, count_tokens=count_tokens or estimate_tokens,
                          challenge=self.challenge)
        if any(u.meta.get("structured_output") is False for u in updates):
            self.structured_output = False  # do not send a refused schema again
        if n > k:
            updates = self._pick(updates, k)
        self._told(updates)
        return updates
