"""LLM replies: lenient JSON parsing, the suggestion format, and the repair loop.

An LLM optimizer asks for one JSON object; what comes back may be cut off, wrapped
in prose or code fences, use wrong keys or types, or hold values a space rejects.
:func:`ask_with_repair` sends the error back to the model a bounded number of
times; :func:`suggest` turns the answers into validated :class:`Update` records
(OptoPrime and OPRO use it; any LLM operator may use the lower-level functions).
Nothing here raises on a bad reply: the reason ends up in the answer.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from optimizers.base import LLMCall, Optimizer, Update
from trace_core import Parameter, prompts
from trace_core.errors import BudgetExceeded, ConfigError, InvalidProposal
from trace_core.feedback import Direction
from trace_core.llm.errors import LLMError, UnparseableReply
from trace_core.spaces import Choice, Code, Float, Int, Json, Space, Text

__all__ = [
    "REPAIR_TEMPLATE",
    "Answer",
    "Suggestion",
    "parse_json",
    "parse_reply",
    "reply_model",
    "check_suggestion",
    "ask_with_repair",
    "suggest",
    "LLMOptimizer",
]

log = logging.getLogger(__name__)

REPAIR_TEMPLATE = "optoprime/repair"
_FENCE = re.compile(r"```[\w-]*[ \t]*\n?(.*?)```", re.S)
_MAX_STARTS = 64  # '{' positions tried when looking for an object inside prose
_ECHO_CHARS = 6000  # a bad reply is echoed back to the model cut to this length


def _tail(text: str, n: int = 60) -> str:
    return json.dumps(text[-n:])


def parse_json(text: str) -> Any:
    """The JSON value in a reply: the whole text, a fenced block, or the first object
    inside prose; Python-style literals (single quotes, ``True``) are accepted.

    Raises:
        UnparseableReply: no JSON found; the message says why (cut off, no object,
            the syntax error) in words fit to send back to the model.

    Example:
        >>> parse_json('Sure! ```json\\n{"a": 1}\\n``` Hope it helps.')
        {'a': 1}
    """
    if not isinstance(text, str):
        raise UnparseableReply(f"the reply is not text but {type(text).__name__}", raw=repr(text))
    stripped = text.strip()
    if not stripped:
        raise UnparseableReply("the reply was empty; answer with one JSON object", raw=text)
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    for block in _FENCE.findall(text):
        try:
            return json.loads(block.strip())
        except json.JSONDecodeError:
            pass
    decoder = json.JSONDecoder()
    first_error: json.JSONDecodeError | None = None
    for i, match in enumerate(re.finditer(r"\{", text)):
        if i >= _MAX_STARTS:
            break
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError as e:
            first_error = first_error or e
            continue
        if isinstance(value, dict):
            return value
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end and end - start < 200_000:
        try:
            value = ast.literal_eval(text[start : end + 1])
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
    if start < 0:
        raise UnparseableReply("the reply holds no JSON object (no '{' found); answer with one JSON object", raw=text)
    if text.count("{") > text.count("}") or text.count("[") > text.count("]"):
        raise UnparseableReply(
            f"the JSON object is incomplete: the reply was cut off before it closed (it ends with {_tail(stripped)}); "
            "send the whole object again, shorter if needed",
            raw=text,
        )
    where = f": {first_error.msg} at line {first_error.lineno} column {first_error.colno}" if first_error else ""
    raise UnparseableReply(f"the reply is not valid JSON{where}; send one valid JSON object", raw=text)


def _summarize(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in error.errors()[:8])


def parse_reply(text: str, schema: type[BaseModel]) -> BaseModel:
    """Parse a reply leniently (see :func:`parse_json`) and validate it against ``schema``.

    Raises:
        UnparseableReply: not JSON, or JSON that does not fit; ``raw`` keeps the text.

    Example:
        >>> from pydantic import BaseModel
        >>> class Answer(BaseModel):
        ...     x: int
        >>> parse_reply("Here: {'x': 3}", Answer).x
        3
    """
    data = parse_json(text)
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise UnparseableReply(f"the reply does not fit the {schema.__name__} schema: {_summarize(e)}", raw=text) from None


# -- the suggestion format: {"reasoning": ..., "suggestion": {name: value}, "no_change": bool} ----------------------


def _annotation(space: Space) -> Any:
    """A pydantic type for one space (used for the JSON schema sent as structured output)."""
    if isinstance(space, Float):
        return Annotated[float, Field(ge=space.lo, le=space.hi)]
    if isinstance(space, Int):
        return Annotated[int, Field(ge=space.lo, le=space.hi)]
    if isinstance(space, Text):
        return Annotated[str, Field(max_length=space.max_chars)] if space.max_chars else str
    if isinstance(space, Code):
        return str
    if isinstance(space, Choice) and all(isinstance(o, (str, int, bool)) for o in space.options):
        return Literal[tuple(space.options)]
    if isinstance(space, Json):
        return space.model
    return Any


def reply_model(parameters: Sequence[Parameter]) -> type[BaseModel]:
    """The reply's pydantic model, built from the parameters' spaces (keys are their names).

    Example:
        >>> from trace_core.spaces import Float
        >>> Reply = reply_model([Parameter(1.0, name="lr", space=Float(0, 1))])
        >>> Reply.model_json_schema()["$defs"]["Suggestion"]["properties"]["lr"]["anyOf"][0]["maximum"]
        1.0
    """
    fields: dict[str, Any] = {
        f"v{i}": (_annotation(p.space) | None, Field(default=None, alias=p.name, description=p.space.describe()))
        for i, p in enumerate(parameters)
    }
    suggestion = create_model("Suggestion", __config__=ConfigDict(extra="forbid"), **fields)
    return create_model(
        "Reply",
        reasoning=(str, Field(description="why these values should make the feedback better")),
        suggestion=(suggestion, Field(description="variable name -> new value; omit variables to keep")),
        no_change=(bool, Field(default=False, description="true when no variable should change")),
    )


@dataclass(frozen=True)
class Suggestion:
    """A checked reply: the reasoning and the validated values that differ from the live
    ones (see :func:`check_suggestion` for an example)."""

    reasoning: str
    values: dict[str, Any]
    no_change: bool


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidProposal(f'"no_change" must be true or false, got {json.dumps(value, default=str)[:80]}')


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and odd types: treat as different
        return False


def check_suggestion(text: str, optimizer: Optimizer) -> Suggestion:
    """Parse a suggestion reply and validate every value against its parameter's space.

    All problems of a reply are reported at once; nothing is assigned.

    Raises:
        UnparseableReply: not JSON, or not the expected object.
        InvalidProposal: unknown names or values a space rejects (every one listed).

    Example:
        >>> from optimizers.optoprime import OptoPrime
        >>> from trace_core.spaces import Int
        >>> opt = OptoPrime([Parameter(1, name="k", space=Int(1, 9))], llm=None)
        >>> check_suggestion('{"reasoning": "more", "suggestion": {"k": "4"}}', opt)
        Suggestion(reasoning='more', values={'k': 4}, no_change=False)
    """
    data = parse_json(text)
    if not isinstance(data, dict):
        raise UnparseableReply(
            f'expected a JSON object with keys "reasoning", "suggestion" and "no_change", got a JSON '
            f"{type(data).__name__}", raw=text)
    no_change = _bool(data.get("no_change", False))
    reasoning = data.get("reasoning", "")
    reasoning = reasoning if isinstance(reasoning, str) else json.dumps(reasoning, default=str)
    if no_change:
        return Suggestion(reasoning, {}, True)
    if "suggestion" not in data:
        raise UnparseableReply(
            f'the object has no "suggestion" key (its keys: {sorted(data)}); use exactly "reasoning", "suggestion" '
            '(variable name -> new value) and "no_change"', raw=text)
    proposal = data["suggestion"]
    if proposal is None:
        proposal = {}
    if not isinstance(proposal, dict):
        raise UnparseableReply(
            f'"suggestion" must be a JSON object mapping variable names to new values, got a {type(proposal).__name__}',
            raw=text)
    clean: dict[str, Any] = {}
    errors: list[str] = []
    for name, value in proposal.items():
        try:
            clean.update(optimizer.validate({name: value}))
        except InvalidProposal as e:
            errors.append(str(e))
        except Exception as e:  # noqa: BLE001 - a space that raised something else: still the model's error
            errors.append(f"{name}: {type(e).__name__}: {e}")
    if errors:
        raise InvalidProposal("; ".join(errors) + ". Nothing was changed; fix these values (or leave them out).")
    changed = {n: v for n, v in clean.items() if not _same(v, optimizer.by_name[n]._value)}
    return Suggestion(reasoning, changed, not changed)


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
                return Answer(None, f"{error} (the repair call failed: {_message(e)})", tuple(calls), attempt - 1, text)
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
    become failed answers.

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
    while len(choices) < n:  # a provider may ignore n, or a choice may be lost to a parse error
        try:
            texts, call = _ask(llm, messages, n - len(choices), options)
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
            answers.append(_settle(llm, messages, choices[i], validate, max_repairs, repair_template, options, calls))
        else:
            answers.append(Answer(None, failure or "no reply", tuple(calls), 0, ""))
    return answers


def suggest(optimizer: Optimizer, llm: Any, messages: Sequence[Mapping[str, Any]], *, k: int = 1,
            max_repairs: int = 2, reply_format: type[BaseModel] | None = None,
            meta: Mapping[str, Any] | None = None, **options: Any) -> list[Update]:
    """Ask ``llm`` for ``k`` suggestions and turn them into validated updates.

    A reply that still fails after ``max_repairs`` repairs, or an LLM error, becomes a
    no-change update whose ``reasoning`` and ``meta["error"]`` give the reason.
    """
    answers = ask_with_repair(llm, messages, lambda text: check_suggestion(text, optimizer),
                              max_repairs=max_repairs, n=k, response_format=reply_format, **options)
    updates = []
    for a in answers:
        info = {**(meta or {}), "repairs": a.repairs}
        if a.ok:
            s: Suggestion = a.value
            updates.append(Update(s.values, reasoning=s.reasoning, llm_calls=a.calls, meta=info))
        else:
            info["error"] = a.error
            reason = f"no change: the reply could not be used after {a.repairs} repair(s): {a.error}"
            updates.append(Update({}, reasoning=reason, llm_calls=a.calls, meta=info))
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
        return suggest(self, self.llm, messages, k=k, max_repairs=self.max_repairs, reply_format=self.reply_format,
                       meta={"optimizer": type(self).__name__, **meta}, temperature=self.temperature)
