"""OPRO: an LLM proposes new values from the history of (values, score), best last.

Yang et al., "Large Language Models as Optimizers" (2023). The traced graph is not
needed: the prompt holds the parameters, their spaces, and the best scored values
so far; replies are checked and repaired like OptoPrime's (see :mod:`optimizers._reply`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from optimizers.llm import LLMOptimizer
from optimizers._values import key_of, to_json_values
from optimizers.base import Update
from optimizers.optoprime.format import cut, format_json, format_parameters
from trace_core import Parameter, prompts
from trace_core.errors import ConfigError
from trace_core.feedback import Direction, as_feedback

__all__ = ["OPRO"]


class OPRO(LLMOptimizer):
    """Propose values from the scored history (:meth:`observe` extends it).

    Args:
        parameters: the parameters to change (unique names).
        llm: anything with the ``LLM`` protocol's ``complete``.
        objective: what to achieve, in words.
        max_history: how many of the best entries the prompt shows.
        value_chars: each shown value is cut to about this many characters.
        max_repairs: how many times a bad reply goes back to the model with its error.
        temperature: sampling temperature (None: the model's default); it rises after
            steps that changed nothing.
        max_tokens: the reply's token limit (default: from the parameters' sizes).
        challenge: when a reply declines to change anything, ask once more in the same conversation
            (False accepts a decline as it is).

    Example:
        >>> from trace_core.llm import ScriptedLLM
        >>> from trace_core.spaces import Float
        >>> from trace_core import Feedback
        >>> x = Parameter(0.0, name="x", space=Float(-5, 5))
        >>> opt = OPRO([x], ScriptedLLM(["[[ ## reasoning ## ]]\\ngo up\\n[[ ## x ## ]]\\n1.5"]))
        >>> opt.observe({"x": 0.0}, Feedback(score=-4.0))
        >>> opt.propose()[0].values
        {'x': 1.5}
    """

    needs_trace = False

    def __init__(self, parameters: Iterable[Parameter], llm: Any, *, objective: str | None = None,
                 max_history: int = 20, value_chars: int = 2000, max_repairs: int = 2,
                 temperature: float | None = None, direction: Direction = "maximize", max_tokens: int | None = None,
                 challenge: bool = True):
        super().__init__(parameters, llm, objective=objective, max_repairs=max_repairs, temperature=temperature,
                         direction=direction, max_tokens=max_tokens, challenge=challenge)
        if max_history < 1 or value_chars < 20:
            raise ConfigError(f"OPRO needs max_history >= 1 and value_chars >= 20; got {max_history}, {value_chars}")
        self.max_history = max_history
        self.value_chars = value_chars
        self.history: list[dict[str, Any]] = []  # {"values": JSON data, "score": float | None, "feedback": text}

    # -- the prompt -----------------------------------------------------------------
    def ranked(self) -> list[dict[str, Any]]:
        """The best ``max_history`` entries, worst first and best last (failures count as worst)."""
        sign = 1.0 if self.direction == "maximize" else -1.0
        order = sorted(self.history, key=lambda e: (e["score"] is not None, sign * (e["score"] or 0.0)))
        return order[-self.max_history :]

    def _entry(self, entry: Mapping[str, Any]) -> str:
        values = ", ".join(f"{k}={format_json(v, self.value_chars)}" for k, v in entry["values"].items())
        score = "failed" if entry["score"] is None else f"{entry['score']:.6g}"
        note = f" ({cut(entry['feedback'], 300)})" if entry.get("feedback") else ""
        return f"values: {values}\nscore: {score}{note}"

    def messages(self) -> list[dict[str, str]]:
        """The chat messages: parameters with their spaces and values, and the ranked history."""
        better = "higher" if self.direction == "maximize" else "lower"
        history = "\n\n".join(self._entry(e) for e in self.ranked()) or "(nothing tried yet)"
        user = prompts.render("opro/user", objective=self.goal("Find the values with the best score."),
                              parameters=format_parameters(self.parameters), history=history,
                              order=f"worst first, best last; {better} scores are better",
                              notes=f"\n# Your last reply\n{self.notes()}\n" if self.notes() else "",
                              reply_reminder=self.reply_reminder())
        system = prompts.render("opro/system", reply_format=self.reply_instructions())
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    # -- the optimizer contract -----------------------------------------------------------
    def propose(self, propagated: Mapping[Parameter, Any] | None = None, k: int = 1) -> list[Update]:
        """Ask for ``k`` new sets of values (the traced graph is not used)."""
        return self.ask(self.messages(), k, {"history": len(self.history)})

    def observe(self, values: Mapping[str, Any], feedback: Any, *, update: Update | None = None) -> None:
        """Add ``values`` with their score to the history (the same values again replace the old entry)."""
        fb = as_feedback(feedback)
        self.observed(values, fb, update)
        data = to_json_values(self.by_name, values)
        key = key_of(data)
        self.history = [e for e in self.history if key_of(e["values"]) != key]
        self.history.append({"values": data, "score": self.score(fb), "feedback": fb.text})

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(e) for e in self.history], **self.reply_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        entries = state.get("history", [])
        try:
            history = [{"values": dict(e["values"]), "score": None if e["score"] is None else float(e["score"]),
                        "feedback": str(e.get("feedback", ""))} for e in entries]
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"OPRO state has a malformed history ({e}); expected "
                              '{"history": [{"values": {...}, "score": number or null}, ...]}') from None
        self.history = history
        self.load_reply_state(state)
