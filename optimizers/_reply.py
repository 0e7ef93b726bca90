"""LLM replies: turning answers into validated updates.

An LLM optimizer asks for a reply in the form :mod:`optimizers._suggestion` describes;
what comes back may be cut off, wrapped in prose or code fences, use wrong keys or
types, or hold values a space rejects. :func:`~optimizers._repair.ask_with_repair`
sends the fix back to the model a bounded number of times; :func:`suggest` turns the
answers into validated :class:`Update` records (OptoPrime and OPRO use it; any LLM
operator may use the lower-level functions). Parsing lives in :mod:`optimizers._parse`, the
base class of LLM optimizers in :mod:`optimizers.llm`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from optimizers._parse import parse_json, parse_reply, unfenced
from optimizers._repair import REPAIR_TEMPLATE, Answer, ask_with_repair, repair_messages
from optimizers._suggestion import Suggestion, check_suggestion, reply_model
from optimizers._values import shown_values
from optimizers.base import Optimizer, ProposalFailure, Update
from trace_core import prompts
from trace_core.errors import BudgetExceeded

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
            reasoning = f"{reasoning}\n(no change: the suggestion {shown_values(s.same)} equals the current values)".strip()
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
