"""Evolution's LLM operator: an LLM writes a child from one or two parents and their feedback.

Prompts are the templates ``evolution/system``, ``evolution/mutate`` (one parent) and
``evolution/crossover`` (two parents). The reply is ``{"reasoning": ..., "suggestion":
{name: value}}``; a reply that does not parse or that a space rejects goes back to the
model with the error (``max_repairs`` times), then the caller falls back to word operators.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optimizers._parse import parse_json, unfenced
from optimizers._reply import ask_with_repair
from optimizers.base import LLMCall, Optimizer
from trace_core import prompts
from trace_core.errors import InvalidProposal
from trace_core.llm.errors import UnparseableReply

__all__ = ["LLMChild", "write_child", "scored"]

_VALUE_CHARS = 2000
_FEEDBACK_CHARS = 600
_VOCABULARY_WORDS = 80


@dataclass(frozen=True)
class LLMChild:
    """The values the LLM wrote (None when it never gave a usable reply), why, and what it cost."""

    values: dict[str, Any] | None
    reasoning: str
    calls: tuple[LLMCall, ...]
    error: str | None = None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " …[cut]"


def scored(individual: Mapping[str, Any]) -> str:
    """How an individual was scored, in words: ``score 0.9``; with several objectives or
    constraints ``val_acc 0.9, n_params 1.2e+04, front 1``, ``infeasible (violation 0.5)``
    or ``failed``."""
    p = individual
    if p.get("score") is None and not p.get("feedback") and "objectives" not in p:
        return "not scored yet"
    if "objectives" not in p:
        return f"score {p.get('score')}"
    if p.get("violation", 0.0) > 0:
        return f"infeasible (violation {p['violation']:g})"
    if p["objectives"] is None:
        return "failed"
    front = f", front {p['front'] + 1}" if "front" in p else ""
    return ", ".join(f"{k} {v:g}" for k, v in p["objectives"].items()) + front


def _parents(parents: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str:
    blocks = []
    for i, p in enumerate(parents, 1):
        lines = [f"Parent {i} ({scored(p)}):"]
        lines += [f"  {n}: {json.dumps(_cut(str(p['values'][n]), _VALUE_CHARS))}" for n in names]
        if p.get("feedback"):
            lines.append(f"  evaluation: {_cut(p['feedback'], _FEEDBACK_CHARS)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _validator(optimizer: Optimizer, names: Sequence[str]):
    def validate(text: str) -> tuple[dict[str, Any], str]:
        data = parse_json(text)
        proposal = data.get("suggestion") if isinstance(data, dict) else None
        if not isinstance(proposal, dict) or not proposal:
            raise UnparseableReply('expected {"reasoning": ..., "suggestion": {variable name: new value}} with at '
                                   f"least one of {list(names)}", raw=text)
        unknown = sorted(set(proposal) - set(names))
        if unknown:
            raise InvalidProposal(f"unknown variables {unknown}; write only {list(names)}")
        reasoning = data.get("reasoning", "")
        proposal = {n: unfenced(v) if optimizer.by_name[n].space.kind == "code" else v for n, v in proposal.items()}
        return optimizer.validate(proposal), reasoning if isinstance(reasoning, str) else json.dumps(reasoning)
    return validate


#: operator role -> template name; a task may override any of them (``Evolution(templates=...)``)
DEFAULT_TEMPLATES = {"system": "evolution/system", "mutate": "evolution/mutate", "crossover": "evolution/crossover"}


def write_child(llm: Any, optimizer: Optimizer, parents: Sequence[Mapping[str, Any]], names: Sequence[str], *,
                objective: str, vocabulary: Sequence[str], max_repairs: int = 1,
                temperature: float | None = None, templates: Mapping[str, str] | None = None) -> LLMChild:
    """Ask ``llm`` for a child of ``parents`` (dicts with ``values``, ``score``, ``feedback``)
    over the parameters ``names``; never raises for a bad reply or a failed call."""
    params = optimizer.by_name
    described = "\n".join(f"- {n}: {params[n].space.describe()}" + (f" — {params[n].description}"
                                                                      if params[n].description else "")
                          for n in names)
    example = ", ".join(f'"{n}": "..."' for n in names)
    names_of = {**DEFAULT_TEMPLATES, **(templates or {})}
    template = names_of["crossover"] if len(parents) > 1 else names_of["mutate"]
    user = prompts.render(template, objective=objective, parameters=described, parents=_parents(parents, names),
                          vocabulary=", ".join(vocabulary[:_VOCABULARY_WORDS]) or "(none given)",
                          format=prompts.render("evolution/format", example=example))
    messages = [{"role": "system", "content": prompts.render(names_of["system"])},
                {"role": "user", "content": user}]
    options = {} if temperature is None else {"temperature": temperature}
    answer = ask_with_repair(llm, messages, _validator(optimizer, names), max_repairs=max_repairs,
                             repair_template="evolution/repair", **options)[0]
    if not answer.ok:
        return LLMChild(None, "", answer.calls, answer.error)
    values, reasoning = answer.value
    return LLMChild(values, reasoning, answer.calls)
