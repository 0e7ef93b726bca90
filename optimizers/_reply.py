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
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from optimizers._parse import marker, parse_json, parse_reply, unfenced
from optimizers._suggestion import (Suggestion, check_suggestion, expected_reply_tokens, needs_blocks, reply_model,
                                   reply_format as reply_instructions)
from optimizers._values import key_of, to_json_values
from optimizers.base import LLMCall, Optimizer, Update
from trace_core import Parameter, prompts
from trace_core.errors import BudgetExceeded, ConfigError
from trace_core.feedback import Direction, Feedback
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
    "repair_messages",
    "suggest",
    "LLMOptimizer",
]

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
                return Answer(None, f"{error} (the repair call failed: {_message(e)})", tuple(calls), attempt - 1, text)
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
    the first answer. :class:`BudgetExceeded` propagates; other LLM errors become failed
    answers. A provider that refuses the ``response_format`` schema
    (:class:`~trace_core.llm.BadRequest`) is asked again without it (``Answer.structured``).

    Example:
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
    answers = []
    for i in range(n):
        calls = first_calls if i == 0 else []
        if i < len(choices):
            text, finish = choices[i]
            answer = _settle(llm, messages, text, finish, validate, max_repairs, repairs, options, calls)
        else:
            answer = Answer(None, failure or "no reply", tuple(calls), 0, "")
        answers.append(dataclasses.replace(answer, structured=structured))
    return answers


def suggest(optimizer: Optimizer, llm: Any, messages: Sequence[Mapping[str, Any]], *, k: int = 1,
            max_repairs: int = 2, reply_format: type[BaseModel] | None = None, form: str = "marked",
            meta: Mapping[str, Any] | None = None, **options: Any) -> list[Update]:
    """Ask ``llm`` for ``k`` suggestions and turn them into validated updates.

    A reply that still fails after ``max_repairs`` repairs, or an LLM error, becomes a
    no-change update whose ``reasoning`` and ``meta["error"]`` give the reason; a reply
    that only repeats the current values becomes a no-change update with
    ``meta["same_as_current"]``. ``form`` is the reply form asked for (``"marked"`` or
    ``"json"``); ``reply_format`` the schema sent as structured output (json only).
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
            updates.append(Update({}, reasoning=reason, llm_calls=a.calls, meta=info))
            continue
        s: Suggestion = a.value
        reasoning = s.reasoning
        if s.same and not s.values:
            info["same_as_current"] = s.same
            reasoning = f"{reasoning}\n(no change: the suggestion {_shown(s.same)} equals the current values)".strip()
        updates.append(Update(s.values, reasoning=reasoning, llm_calls=a.calls, meta=info))
    return updates


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
    different direction.

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
                 max_tokens: int | None = None):
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
        """``k`` of ``updates``: first those whose values are new (not tried, not another's), then the rest."""
        live = to_json_values(self.by_name, self.values())
        seen = set(self._tried)
        fresh, rest = [], []
        for u in updates:
            key = key_of({**live, **to_json_values(self.by_name, u.values)})
            (fresh if u.values and key not in seen else rest).append(u)
            seen.add(key)
        return (fresh + rest)[:k]

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
                          token_budget=token_budget, count_tokens=count_tokens or estimate_tokens)
        if any(u.meta.get("structured_output") is False for u in updates):
            self.structured_output = False  # do not send a refused schema again
        if n > k:
            updates = self._pick(updates, k)
        self._told(updates)
        return updates
