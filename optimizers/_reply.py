"""LLM replies: turning answers into validated updates, and the base of LLM optimizers.

An LLM optimizer asks for a reply in the form :mod:`optimizers._suggestion` describes;
what comes back may be cut off, wrapped in prose or code fences, use wrong keys or
types, or hold values a space rejects. :func:`~optimizers._repair.ask_with_repair`
sends the fix back to the model a bounded number of times; :func:`suggest` turns the
answers into validated :class:`Update` records (OptoPrime and OPRO use it; any LLM
operator may use the lower-level functions). Parsing lives in :mod:`optimizers._parse`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from optimizers._parse import marker, parse_json, parse_reply, unfenced
from optimizers._repair import REPAIR_TEMPLATE, Answer, ask_with_repair, estimate_tokens, repair_messages
from optimizers._suggestion import (Suggestion, check_suggestion, expected_reply_tokens, needs_blocks, reply_model,
                                   reply_format as reply_instructions)
from optimizers._values import key_of, to_json_values
from optimizers.base import Optimizer, ProposalFailure, Update
from trace_core import Parameter, prompts
from trace_core.errors import BudgetExceeded, ConfigError
from trace_core.feedback import Direction, Feedback

__all__ = [
    "REPAIR_TEMPLATE",
    "Answer",
    "Suggestion",
    "parse_json",
    "parse_reply",
    "reply_model",
    "check_suggestion",
    "unfenced",
    "ask_with_repair",
    "repair_messages",
    "suggest",
    "LLMOptimizer",
]


def suggest(optimizer: Optimizer, llm: Any, messages: Sequence[Mapping[str, Any]], *, k: int = 1,
            max_repairs: int = 2, reply_format: type[BaseModel] | None = None, form: str = "marked",
            meta: Mapping[str, Any] | None = None, challenge: bool = True, **options: Any) -> list[Update]:
    """Ask ``llm`` for ``k`` suggestions and turn them into validated updates.

    When every reply declines to change anything (``no_change``, or only the current values)
    and ``challenge`` is on, the first is answered once, in the same conversation, with
    ``reply/challenge``: a decline costs a whole step, while a try that does worse is only
    rolled back. Small models decline readily (Qwen2.5-Coder-1.5B called a score of 11.25
    "already the lowest possible" when the prompt said the best is 0). A second decline stands.

    A reply that still fails after ``max_repairs`` repairs, or an LLM error, becomes a
    no-change update whose ``failure`` (kind ``"llm"`` or ``"reply"``), ``reasoning`` and
    ``meta["error"]`` give the reason; a reply that only repeats the current values becomes
    a no-change update with ``meta["same_as_current"]``. ``form`` is the reply form asked for
    (``"marked"`` or ``"json"``); ``reply_format`` the schema sent as structured output (json only).
    """
    validate = lambda text: check_suggestion(text, optimizer, form)  # noqa: E731
    answers = ask_with_repair(llm, messages, validate, max_repairs=max_repairs, n=k, response_format=reply_format,
                              **options)
    if challenge and answers and not any(_proposes(a) for a in answers):
        answers = _challenge(llm, messages, answers, validate, max_repairs=max_repairs, response_format=reply_format,
                             **options)
    updates = []
    for a in answers:
        info = {**(meta or {}), "repairs": a.repairs, "reply_form": form}
        if a.challenged:
            info["challenged"] = True
        if not a.structured:
            info["structured_output"] = False
        if not a.ok:
            info["error"] = a.error
            reason = f"no change: the reply could not be used after {a.repairs} repair(s): {a.error}"
            failure = ProposalFailure("llm" if a.llm_failed else "reply", a.error or "no reply")
            updates.append(Update({}, reasoning=reason, llm_calls=a.calls, meta=info, failure=failure))
            continue
        s: Suggestion = a.value
        reasoning = s.reasoning
        if s.same and not s.values:
            info["same_as_current"] = s.same
            reasoning = f"{reasoning}\n(no change: the suggestion {_shown(s.same)} equals the current values)".strip()
        updates.append(Update(s.values, reasoning=reasoning, llm_calls=a.calls, meta=info, checked=True))
    return updates


def _proposes(answer: Answer) -> bool:
    """Whether ``answer`` is a usable reply that changes something (a failed reply is not challenged)."""
    return not answer.ok or bool(answer.value.values)


def _challenge(llm: Any, messages: Sequence[Mapping[str, Any]], answers: list[Answer],
               validate: Callable[[str], Any], **options: Any) -> list[Answer]:
    """``answers`` with the first declined one asked once more to change something (see :func:`suggest`)."""
    i = next(i for i, a in enumerate(answers) if a.ok)
    declined = answers[i]
    variables = options.get("repair_variables") or {}
    nudge = prompts.render("reply/challenge", reply_format=variables.get("reply_format", "")).strip()
    follow_up = [*messages, {"role": "assistant", "content": declined.text}, {"role": "user", "content": nudge}]
    try:
        again = ask_with_repair(llm, follow_up, validate, n=1, **options)[0]
    except BudgetExceeded as e:
        e.calls = (*[c for a in answers for c in a.calls], *(e.calls or ()))
        raise
    calls = declined.calls + again.calls
    if again.ok and again.value.values:
        kept = dataclasses.replace(again, calls=calls, repairs=declined.repairs + again.repairs, challenged=True)
    else:  # declined twice (or the second reply was unusable): the first reply stands
        kept = dataclasses.replace(declined, calls=calls, challenged=True)
    return [*answers[:i], kept, *answers[i + 1:]]


def _shown(values: Mapping[str, Any], limit: int = 120) -> str:
    """Values as ``x=0, y=0`` (each cut to ``limit`` characters) for a note to the model."""
    parts = []
    for name, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        text = " ".join(text.split())
        parts.append(f"{name}={text if len(text) <= limit else text[:limit] + '…'}")
    return ", ".join(parts)


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
    (``challenge=False`` accepts it as it is; see :func:`suggest`).

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
                self._notes.append(prompts.render("reply/note_same", values=_shown(u.meta["same_as_current"])).strip())
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
            shown = _shown(to_json_values(self.by_name, update.values))
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
