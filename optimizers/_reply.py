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

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from optimizers._parse import parse_json, parse_reply, unfenced
from optimizers._repair import REPAIR_TEMPLATE, Answer, ask_with_repair, repair_messages
from optimizers._suggestion import Suggestion, check_suggestion, reply_model
from optimizers._values import shown_values
from optimizers.base import Optimizer, ProposalFailure, Update

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
            meta: Mapping[str, Any] | None = None, **options: Any) -> list[Update]:
    """Ask ``llm`` for ``k`` suggestions and turn them into validated updates.

    A reply that still fails after ``max_repairs`` repairs, or an LLM error, becomes a
    no-change update whose ``failure`` (kind ``"llm"`` or ``"reply"``), ``reasoning`` and
    ``meta["error"]`` give the reason; a reply that only repeats the current values becomes
    a no-change update with ``meta["same_as_current"]``. ``form`` is the reply form asked for
    (``"marked"`` or ``"json"``); ``reply_format`` the schema sent as structured output (json only).
    """
    answers = ask_with_repair(llm, messages, lambda text: check_suggestion(text, optimizer, form),
                              max_repairs=max_repairs, n=k, response_format=reply_format, **options)
    updates = []
    for a in answers:
        info = {**(meta or {}), "repairs": a.repairs, "reply_form": form}
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


def __getattr__(name: str) -> Any:
    if name == "LLMOptimizer":  # its old home; imported here on use (optimizers.llm imports this module)
        from optimizers.llm import LLMOptimizer

        return LLMOptimizer
    raise AttributeError(f"module 'optimizers._reply' has no attribute {name!r}")
