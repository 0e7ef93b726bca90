"""Asking an LLM with repairs: each reply that does not validate goes back with the fix in
plain words, a bounded number of times.

:func:`ask_with_repair` asks for ``n`` choices (more calls when fewer come back), asks
a reply cut off at ``max_tokens`` again shorter, and keeps every repair conversation
within a token budget (the first messages, the last bad reply cut to fit, the note).
Nothing here raises on a bad reply: the reason ends up in the :class:`Answer`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optimizers.base import LLMCall
from trace_core import prompts
from trace_core.errors import BudgetExceeded
from trace_core.llm.errors import BadRequest, LLMError, UnparseableReply

__all__ = ["REPAIR_TEMPLATE", "Answer", "ask_with_repair", "repair_messages", "estimate_tokens"]

log = logging.getLogger(__name__)

REPAIR_TEMPLATE = "reply/repair_json"
_ECHO_CHARS = 6000  # a bad reply is echoed back to the model cut to this length


def estimate_tokens(text: str) -> int:
    """A high token estimate (three characters a token) when no counter is given."""
    return len(text) // 3 + 1


# -- asking with repairs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One choice after its repairs: ``value`` is what ``validate`` returned (None when it
    never passed), ``error`` the last problem, ``calls`` the LLM calls it cost."""

    value: Any
    error: str | None
    calls: tuple[LLMCall, ...]
    repairs: int
    text: str
    structured: bool = True  # False: the provider refused the schema; asked without structured output
    llm_failed: bool = False  # the error is the LLM call's (unreachable, refused), not the reply's
    challenged: bool = False  # a decline asked once more to change something (see optimizers._reply.suggest)

    @property
    def ok(self) -> bool:
        return self.error is None


def _record(model: str, messages: Sequence[Mapping[str, Any]], reply: str, completion: Any = None) -> LLMCall:
    prompt = json.dumps(list(messages), ensure_ascii=False, default=str)  # every message: the call can be replayed
    if completion is None:
        return LLMCall(model=model, prompt=prompt, reply=reply)
    return LLMCall(model=completion.model or model, prompt_tokens=completion.usage.prompt_tokens,
                   completion_tokens=completion.usage.completion_tokens, cost_usd=completion.cost_usd,
                   latency_s=completion.latency_s, cached=completion.cached, prompt=prompt, reply=reply)


def _ask(llm: Any, messages: list[dict[str, Any]], n: int,
         options: Mapping[str, Any]) -> tuple[list[str], list[str | None], LLMCall]:
    """One call: its texts, their finish reasons, and its record. A reply the LLM layer could
    not fit to ``response_format`` comes back as its raw text."""
    model = str(getattr(llm, "model", type(llm).__name__))
    try:
        completion = llm.complete(messages, n=n, **options)
    except BudgetExceeded:
        raise
    except UnparseableReply as e:  # the layer validated response_format; we repair it ourselves
        return [e.raw], [None], _record(e.model or model, messages, e.raw)
    texts = list(completion.texts)
    finishes = list(completion.finish_reasons) + [None] * (len(texts) - len(completion.finish_reasons))
    return texts, finishes, _record(model, messages, "\n\n".join(texts), completion)


def _message(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _tokens(messages: Sequence[Mapping[str, Any]], count: Callable[[str], int]) -> int:
    return sum(count(str(m.get("content") or "")) + 4 for m in messages)


def repair_messages(messages: Sequence[Mapping[str, Any]], reply: str, note: str, *, token_budget: int | None = None,
                    count_tokens: Callable[[str], int] = estimate_tokens) -> list[dict[str, Any]]:
    """The conversation that asks for a repair: the first messages, the bad reply (cut
    to fit), and the note. Earlier bad replies are never kept, so the conversation does
    not grow with each repair; with ``token_budget`` the echoed reply is cut (or left
    out) until the whole conversation fits.

    Example:
        >>> m = repair_messages([{"role": "user", "content": "x?"}], "y" * 9000, "fix it", token_budget=100)
        >>> [x["role"] for x in m], len(m[1]["content"]) < 400
        (['user', 'assistant', 'user'], True)
    """
    base = [dict(m) for m in messages]
    echo = reply if len(reply) <= _ECHO_CHARS else reply[:_ECHO_CHARS] + " …[cut]"
    while True:
        convo = [*base, *([{"role": "assistant", "content": echo}] if echo else []), {"role": "user", "content": note}]
        if token_budget is None or not echo or _tokens(convo, count_tokens) <= token_budget:
            return convo
        echo = "" if len(echo) < 240 else echo[: len(echo) // 3] + " …[cut]"


@dataclass
class _Repairs:
    """How a repair is asked: the note template and its variables, the size limits."""

    template: str = REPAIR_TEMPLATE
    variables: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    token_budget: int | None = None
    count_tokens: Callable[[str], int] = estimate_tokens

    def note(self, error: str) -> str:
        return prompts.render(self.template, error=error.rstrip(" ."), **self.variables)


def _settle(llm: Any, messages: list[dict[str, Any]], text: str, finish: str | None, validate: Callable[[str], Any],
            max_repairs: int, repairs: _Repairs, options: Mapping[str, Any], calls: list[LLMCall]) -> Answer:
    error = ""
    for attempt in range(max_repairs + 1):
        if attempt:
            convo = repair_messages(messages, text, repairs.note(error), token_budget=repairs.token_budget,
                                    count_tokens=repairs.count_tokens)
            try:
                texts, finishes, call = _ask(llm, convo, 1, options)
            except LLMError as e:
                return Answer(None, f"{error} (the repair call failed: {_message(e)})", tuple(calls), attempt - 1, text,
                              llm_failed=True)
            calls.append(call)
            text, finish = (texts[0], finishes[0]) if texts else ("", None)
        if finish == "length":  # cut off: whatever parses of it is incomplete
            error = prompts.render("reply/cut_off", max_tokens=options.get("max_tokens") or "the").strip()
            log.debug("reply cut off at the token limit (attempt %d)", attempt)
            continue
        try:
            return Answer(validate(text), None, tuple(calls), attempt, text)
        except BudgetExceeded:
            raise
        except Exception as e:  # noqa: BLE001 - any problem with a reply goes back to the model
            error = _message(e)
            log.debug("reply rejected (attempt %d): %s", attempt, error)
    return Answer(None, error, tuple(calls), max_repairs, text)


def ask_with_repair(llm: Any, messages: Sequence[Mapping[str, Any]], validate: Callable[[str], Any], *,
                    max_repairs: int = 2, n: int = 1, repair_template: str = REPAIR_TEMPLATE,
                    repair_variables: Mapping[str, Any] | None = None, token_budget: int | None = None,
                    count_tokens: Callable[[str], int] = estimate_tokens, **options: Any) -> list[Answer]:
    """Ask for ``n`` choices; each that ``validate`` rejects gets the error back, up to
    ``max_repairs`` times. Returns ``n`` answers, never raises for a bad reply.

    ``validate(text)`` returns the value or raises (its message is sent back, rendered
    with ``repair_template``: variable ``error`` plus ``repair_variables``). A reply cut
    off at ``max_tokens`` (finish reason ``length``) is asked again, shorter. A repair
    sends the first messages, the last bad reply and the note, within ``token_budget``
    prompt tokens (counted with ``count_tokens``). ``options`` go to ``llm.complete``
    (``response_format``, ``temperature``, ``max_tokens`` ...). When fewer than ``n``
    choices come back, more calls are made for the rest. The first call is recorded on
    the first answer. :class:`BudgetExceeded` propagates (with the calls made so far as its ``calls``); other LLM errors become failed
    answers; the calls made before it are on the error as ``calls``. A provider that refuses the ``response_format`` schema
    (:class:`~trace_core.llm.BadRequest`) is asked again without it (``Answer.structured``).

    Example:
        >>> from optimizers._parse import parse_json
        >>> from trace_core.llm import ScriptedLLM
        >>> llm = ScriptedLLM(["{'x': ", '{"x": 2}'])
        >>> a = ask_with_repair(llm, [{"role": "user", "content": "x?"}], lambda t: parse_json(t)["x"])[0]
        >>> a.value, a.repairs
        (2, 1)
    """
    messages = [dict(m) for m in messages]
    repairs = _Repairs(repair_template, repair_variables or {}, token_budget, count_tokens)
    choices: list[tuple[str, str | None]] = []
    first_calls: list[LLMCall] = []
    failure: str | None = None
    structured = True
    answers: list[Answer] = []
    calls = first_calls
    try:
        while len(choices) < n:  # a provider may ignore n, or a choice may be lost to a parse error
            try:
                texts, finishes, call = _ask(llm, messages, n - len(choices), options)
            except BadRequest as e:
                if options.get("response_format") is None or not structured:
                    failure = f"the LLM call failed: {type(e).__name__}: {_message(e)}"
                    log.warning("asking for a proposal failed: %s", failure)
                    break
                log.warning("the provider refused the reply schema as structured output (%s); asking without it",
                            _message(e))
                options, structured = {**options, "response_format": None}, False
                continue
            except LLMError as e:
                failure = f"the LLM call failed: {type(e).__name__}: {_message(e)}"
                log.warning("asking for a proposal failed: %s", failure)
                break
            first_calls.append(call)
            if not texts:
                failure = "the LLM returned no choices"
                break
            choices.extend(zip(texts, finishes))
        for i in range(n):
            calls = first_calls if i == 0 else []
            if i < len(choices):
                text, finish = choices[i]
                answer = _settle(llm, messages, text, finish, validate, max_repairs, repairs, options, calls)
            else:
                answer = Answer(None, failure or "no reply", tuple(calls), 0, "", llm_failed=True)
            answers.append(dataclasses.replace(answer, structured=structured))
    except BudgetExceeded as e:  # the calls made so far are kept on the error: the step that stops still records them
        e.calls = (*[c for a in answers for c in a.calls], *calls)
        raise
    return answers
