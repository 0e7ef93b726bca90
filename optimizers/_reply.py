"""LLM replies: the repair loop, and turning answers into validated updates.

An LLM optimizer asks for one JSON object; what comes back may be cut off, wrapped
in prose or code fences, use wrong keys or types, or hold values a space rejects.
:func:`ask_with_repair` sends the error back to the model a bounded number of
times; :func:`suggest` turns the answers into validated :class:`Update` records
(OptoPrime and OPRO use it; any LLM operator may use the lower-level functions).
Nothing here raises on a bad reply: the reason ends up in the answer. Parsing lives
in :mod:`optimizers._parse`, the suggestion format in :mod:`optimizers._suggestion`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from optimizers._parse import parse_json, parse_reply, unfenced
from optimizers._suggestion import Suggestion, check_suggestion, reply_model
from optimizers.base import LLMCall, Optimizer, ProposalFailure, Update
from trace_core import Parameter, prompts
from trace_core.errors import BudgetExceeded, ConfigError
from trace_core.feedback import Direction
from trace_core.llm.errors import BadRequest, LLMError, UnparseableReply

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
    "suggest",
    "LLMOptimizer",
]

log = logging.getLogger(__name__)

REPAIR_TEMPLATE = "optoprime/repair"
_ECHO_CHARS = 6000  # a bad reply is echoed back to the model cut to this length


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

    @property
    def ok(self) -> bool:
        return self.error is None


def _record(model: str, messages: Sequence[Mapping[str, Any]], reply: str, completion: Any = None) -> LLMCall:
    prompt = str(messages[-1].get("content", "")) if messages else ""
    if completion is None:
        return LLMCall(model=model, prompt=prompt, reply=reply)
    return LLMCall(model=completion.model or model, prompt_tokens=completion.usage.prompt_tokens,
                   completion_tokens=completion.usage.completion_tokens, cost_usd=completion.cost_usd,
                   latency_s=completion.latency_s, cached=completion.cached, prompt=prompt, reply=reply)


def _ask(llm: Any, messages: list[dict[str, Any]], n: int, options: Mapping[str, Any]) -> tuple[list[str], LLMCall]:
    """One call; a reply the LLM layer could not fit to ``response_format`` comes back as its raw text."""
    model = str(getattr(llm, "model", type(llm).__name__))
    try:
        completion = llm.complete(messages, n=n, **options)
    except BudgetExceeded:
        raise
    except UnparseableReply as e:  # the layer validated response_format; we repair it ourselves
        return [e.raw], _record(e.model or model, messages, e.raw)
    texts = list(completion.texts)
    return texts, _record(model, messages, "\n\n".join(texts), completion)


def _message(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _settle(llm: Any, messages: list[dict[str, Any]], text: str, validate: Callable[[str], Any], max_repairs: int,
            repair_template: str, options: Mapping[str, Any], calls: list[LLMCall]) -> Answer:
    convo = list(messages)
    error = ""
    for attempt in range(max_repairs + 1):
        if attempt:
            echo = text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + " …[cut]"
            convo += [{"role": "assistant", "content": echo},
                      {"role": "user", "content": prompts.render(repair_template, error=error)}]
            try:
                texts, call = _ask(llm, convo, 1, options)
            except LLMError as e:
                return Answer(None, f"{error} (the repair call failed: {_message(e)})", tuple(calls), attempt - 1, text,
                              llm_failed=True)
            calls.append(call)
            text = texts[0] if texts else ""
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
                    **options: Any) -> list[Answer]:
    """Ask for ``n`` choices; each that ``validate`` rejects gets the error back, up to
    ``max_repairs`` times. Returns ``n`` answers, never raises for a bad reply.

    ``validate(text)`` returns the value or raises (its message is sent back, rendered
    with ``repair_template``, variable ``error``). ``options`` go to ``llm.complete``
    (``response_format``, ``temperature`` ...). The first call (all ``n`` choices) is
    recorded on the first answer. :class:`BudgetExceeded` propagates; other LLM errors
    become failed answers. A provider that refuses the ``response_format`` schema
    (:class:`~trace_core.llm.BadRequest`) is asked again without it (``Answer.structured``).

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> llm = ScriptedLLM(["{'x': ", '{"x": 2}'])
        >>> a = ask_with_repair(llm, [{"role": "user", "content": "x?"}], lambda t: parse_json(t)["x"])[0]
        >>> a.value, a.repairs
        (2, 1)
    """
    messages = [dict(m) for m in messages]
    choices: list[str] = []
    first_calls: list[LLMCall] = []
    failure: str | None = None
    structured = True
    while len(choices) < n:  # a provider may ignore n, or a choice may be lost to a parse error
        try:
            texts, call = _ask(llm, messages, n - len(choices), options)
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
        choices.extend(texts)
    answers = []
    for i in range(n):
        calls = first_calls if i == 0 else []
        if i < len(choices):
            answer = _settle(llm, messages, choices[i], validate, max_repairs, repair_template, options, calls)
        else:
            answer = Answer(None, failure or "no reply", tuple(calls), 0, "", llm_failed=True)
        answers.append(dataclasses.replace(answer, structured=structured))
    return answers


def suggest(optimizer: Optimizer, llm: Any, messages: Sequence[Mapping[str, Any]], *, k: int = 1,
            max_repairs: int = 2, reply_format: type[BaseModel] | None = None,
            meta: Mapping[str, Any] | None = None, **options: Any) -> list[Update]:
    """Ask ``llm`` for ``k`` suggestions and turn them into validated updates.

    A reply that still fails after ``max_repairs`` repairs, or an LLM error, becomes a
    no-change update whose ``failure`` (kind ``"llm"`` or ``"reply"``), ``reasoning`` and
    ``meta["error"]`` give the reason.
    """
    answers = ask_with_repair(llm, messages, lambda text: check_suggestion(text, optimizer),
                              max_repairs=max_repairs, n=k, response_format=reply_format, **options)
    updates = []
    for a in answers:
        info = {**(meta or {}), "repairs": a.repairs}
        if not a.structured:
            info["structured_output"] = False
        if a.ok:
            s: Suggestion = a.value
            updates.append(Update(s.values, reasoning=s.reasoning, llm_calls=a.calls, meta=info, checked=True))
        else:
            info["error"] = a.error
            reason = f"no change: the reply could not be used after {a.repairs} repair(s): {a.error}"
            failure = ProposalFailure("llm" if a.llm_failed else "reply", a.error or "no reply")
            updates.append(Update({}, reasoning=reason, llm_calls=a.calls, meta=info, failure=failure))
    return updates


class LLMOptimizer(Optimizer):
    """Base of optimizers that ask an LLM for suggestions (OptoPrime, OPRO): the LLM,
    the objective, the repair bound, and :meth:`ask`, which turns messages into
    ``k`` validated updates.

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> from trace_core.spaces import Int
        >>> class Pick(LLMOptimizer):
        ...     def propose(self, propagated=None, k=1):
        ...         return self.ask([{"role": "user", "content": "Pick k."}], k, {})
        >>> k = Parameter(1, name="k", space=Int(1, 9))
        >>> Pick([k], ScriptedLLM(['{"reasoning": "", "suggestion": {"k": 4}}'])).propose()[0].values
        {'k': 4}
    """

    def __init__(self, parameters: Iterable[Parameter], llm: Any, *, objective: str | None = None,
                 max_repairs: int = 2, temperature: float | None = None, direction: Direction = "maximize"):
        super().__init__(parameters, direction=direction)
        if max_repairs < 0:
            raise ConfigError(f"max_repairs must be >= 0, got {max_repairs}")
        self.llm = llm
        self.objective = objective
        self.max_repairs = max_repairs
        self.temperature = temperature
        self._reply_format: type[BaseModel] | None = None
        self.structured_output = True  # False once the provider refused the reply schema

    @property
    def reply_format(self) -> type[BaseModel]:
        """The reply's pydantic model (built once from the spaces), sent as structured output."""
        if self._reply_format is None:
            self._reply_format = reply_model(self.parameters)
        return self._reply_format

    def goal(self, default: str) -> str:
        """The objective (or ``default``) and which way scores should go."""
        better = "higher" if self.direction == "maximize" else "lower"
        return f"{(self.objective or default).strip()} A {better} score is better."

    def ask(self, messages: Sequence[Mapping[str, Any]], k: int, meta: Mapping[str, Any]) -> list[Update]:
        """``k`` updates from ``messages`` (see :func:`suggest`)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if self.llm is None:
            raise ConfigError(f"{type(self).__name__} needs an LLM to propose; pass llm= (for example "
                              "trace_core.llm.LiteLLM('openai/gpt-4o-mini')) or use Search without one")
        updates = suggest(self, self.llm, messages, k=k, max_repairs=self.max_repairs,
                          reply_format=self.reply_format if self.structured_output else None,
                          meta={"optimizer": type(self).__name__, **meta}, temperature=self.temperature)
        if any(u.meta.get("structured_output") is False for u in updates):
            self.structured_output = False  # do not send a refused schema again
        return updates
