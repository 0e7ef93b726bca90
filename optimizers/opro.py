"""OPRO: an LLM proposes new values from the history of (values, score), best last.

Yang et al., "Large Language Models as Optimizers" (2023). The traced graph is not
needed: the prompt holds the parameters, their spaces, and the best scored values
so far; replies are checked and repaired like OptoPrime's (see :mod:`optimizers._reply`).
On a multi-objective task (``objectives=``) each entry shows its objective values, the
entries are ranked by how many others dominate them (the front last), and the prompt
shows the front and asks to dominate or extend it (see :mod:`optimizers._front_prompt`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from optimizers._front_prompt import FrontMemory, dominated_counts
from optimizers.llm import LLMOptimizer
from optimizers._values import key_of, to_json_values
from optimizers.base import Update
from optimizers.optoprime.format import cut, format_json, format_parameters
from trace_core import Objectives, Parameter, prompts
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
        objectives: ``{"metric": "maximize" | "minimize"}`` on a multi-objective task (read
            from ``Feedback.metrics``): entries show their objective values and the prompt
            shows the front and asks to improve it.
        constraints: ``"metric >= bound"`` / ``"metric <= bound"``; infeasible candidates
            are left off the front.
        max_front: the most front members the prompt lists.

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
                 challenge: bool = True, objectives: Mapping[str, str] | None = None, constraints: Sequence[Any] = (),
                 max_front: int = 6):
        super().__init__(parameters, llm, objective=objective, max_repairs=max_repairs, temperature=temperature,
                         direction=direction, max_tokens=max_tokens, challenge=challenge)
        self.front = FrontMemory(Objectives.of(objectives, constraints), max_shown=max_front) if objectives else None
        if max_history < 1 or value_chars < 20:
            raise ConfigError(f"OPRO needs max_history >= 1 and value_chars >= 20; got {max_history}, {value_chars}")
        self.max_history = max_history
        self.value_chars = value_chars
        self.history: list[dict[str, Any]] = []  # {"values": JSON data, "score": float | None, "feedback": text}

    # -- the prompt -----------------------------------------------------------------
    def ranked(self) -> list[dict[str, Any]]:
        """The best ``max_history`` entries, worst first and best last (failures count as worst).
        With several objectives: failed or infeasible first, then by how many entries dominate
        each (most first, the front last), then by the score (the first objective)."""
        sign = 1.0 if self.direction == "maximize" else -1.0
        if self.front is None:
            order = sorted(self.history, key=lambda e: (e["score"] is not None, sign * (e["score"] or 0.0)))
            return order[-self.max_history :]
        points = [self.front.point(e["values"]) for e in self.history]  # None: failed or infeasible
        valued = [p for p in points if p is not None]
        counts = iter(dominated_counts(valued, self.front.objectives.senses))
        beaten = [0 if p is None else next(counts) for p in points]
        order = sorted(range(len(self.history)), key=lambda i: (points[i] is not None, -beaten[i],
                                                                sign * (self.history[i]["score"] or 0.0)))
        return [self.history[i] for i in order][-self.max_history :]

    def _entry(self, entry: Mapping[str, Any]) -> str:
        values = ", ".join(f"{k}={format_json(v, self.value_chars)}" for k, v in entry["values"].items())
        score = "failed" if entry["score"] is None else f"{entry['score']:.6g}"
        note = f" ({cut(entry['feedback'], 300)})" if entry.get("feedback") else ""
        if self.front is not None:
            return f"values: {values}\nobjectives: {self._objectives_of(entry)}{note}"
        return f"values: {values}\nscore: {score}{note}"

    def _objectives_of(self, entry: Mapping[str, Any]) -> str:
        found = self.front.entry(entry["values"]) if self.front is not None else None
        if found is None or found["objectives"] is None:
            return "failed"
        shown = ", ".join(f"{n}={v:.6g}" for n, v in zip(self.front.objectives.names, found["objectives"]))
        return shown + ("" if found["feasible"] else " (infeasible: breaks a constraint)")

    def messages(self) -> list[dict[str, str]]:
        """The chat messages: parameters with their spaces and values, and the ranked history."""
        better = "higher" if self.direction == "maximize" else "lower"
        history = "\n\n".join(self._entry(e) for e in self.ranked()) or "(nothing tried yet)"
        if self.front is None:
            objective, front = self.goal("Find the values with the best score."), ""
            order = f"worst first, best last; {better} scores are better"
        else:
            objective = self.front.goal(self.objective or "Find the values with the best objectives.")
            front = self.front.section(to_json_values(self.by_name, self.values()), self.value_chars)
            order = "failed first, then by how many others beat each in every objective; the front last"
        user = prompts.render("opro/user", objective=objective, front=front,
                              parameters=format_parameters(self.parameters), history=history, order=order,
                              notes=f"\n# Your last reply\n{self.notes()}\n" if self.notes() else "",
                              reply_reminder=self.reply_reminder())
        system = prompts.render("opro/system" if self.front is None else "opro/system_front",
                                reply_format=self.reply_instructions())
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
        if self.front is not None:
            self.front.observe(data, fb)

    def state_dict(self) -> dict[str, Any]:
        front = {} if self.front is None else {"front": self.front.state_dict()}
        return {"history": [dict(e) for e in self.history], **front, **self.reply_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        entries = state.get("history", [])
        try:
            history = [{"values": dict(e["values"]), "score": None if e["score"] is None else float(e["score"]),
                        "feedback": str(e.get("feedback", ""))} for e in entries]
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"OPRO state has a malformed history ({e}); expected "
                              '{"history": [{"values": {...}, "score": number or null}, ...]}') from None
        self.history = history
        if self.front is not None:
            self.front.load_state_dict(state.get("front", ()))
        self.load_reply_state(state)
