"""The optimizer contract: propose apart from apply, observe scores, roll back, resume.

Propose and apply are apart so a proposal can be logged, shown to a person, or
evaluated (under ``trace_core.using(update.values)``) without touching the live
parameters. Every value in an :class:`Update` has passed its parameter's space.
"""

from __future__ import annotations

import abc
import logging
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trace_core import Feedback, Parameter, unique_names
from trace_core.errors import InvalidProposal
from trace_core.feedback import Direction

__all__ = ["Update", "Optimizer", "LLMCall"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMCall:
    """What one LLM call of a proposal cost."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0
    cached: bool = False
    prompt: str = ""
    reply: str = ""


@dataclass(frozen=True)
class Update:
    """A proposal: parameter name -> new (validated) value, with its reasoning.

    ``values`` empty means "no change"; ``meta`` carries optimizer data (e.g. the
    Optuna trial number) and ``id`` ties a later ``observe`` to this proposal.

    Example:
        >>> Update({"lr": 0.01}, reasoning="smaller steps").no_change
        False
    """

    values: dict[str, Any]
    reasoning: str = ""
    llm_calls: tuple[LLMCall, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def no_change(self) -> bool:
        return not self.values

    @property
    def tokens(self) -> int:
        return sum(c.prompt_tokens + c.completion_tokens for c in self.llm_calls)

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd or 0.0 for c in self.llm_calls)


class Optimizer(abc.ABC):
    """Base of all optimizers. Subclasses implement :meth:`propose` and usually
    :meth:`observe`, :meth:`state_dict` and :meth:`load_state_dict`.

    ``direction`` may be changed until the first proposal (the loop sets it from the
    task). ``needs_trace`` tells the loop whether :meth:`propose` reads the traced
    graph and feedback; when False the loop skips the forward and backward passes.
    """

    needs_trace: bool = True

    def __init__(self, parameters: Iterable[Parameter], *, direction: Direction = "maximize"):
        self.parameters: list[Parameter] = list(parameters)
        if not self.parameters:
            raise ValueError("an optimizer needs at least one Parameter")
        self.by_name: dict[str, Parameter] = unique_names(self.parameters)
        self.direction: Direction = direction
        self._undo: list[dict[str, Any]] = []

    # -- the extension points -------------------------------------------------------
    @abc.abstractmethod
    def propose(self, propagated: Mapping[Parameter, Any] | None = None, k: int = 1) -> list[Update]:
        """Return ``k`` candidate updates (each validated); never mutates parameters."""

    def observe(self, values: Mapping[str, Any], feedback: Feedback, *, update: Update | None = None) -> None:
        """Learn the evaluated score of a set of values (default: ignore)."""

    def reporter(self, update: Update) -> Any:
        """A reporter for intermediate values of ``update``'s evaluation (pruning), or None."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state so a run resumes where it stopped."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""

    # -- fixed behaviour --------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """Current live values by name."""
        return {name: p.value for name, p in self.by_name.items()}

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check every value against its space; unknown names and invalid values raise
        :class:`InvalidProposal` naming the parameter (nothing is assigned)."""
        clean: dict[str, Any] = {}
        for name, value in values.items():
            param = self.by_name.get(name)
            if param is None:
                raise InvalidProposal(
                    f"unknown parameter {name!r}; the parameters are {sorted(self.by_name)}", parameter=name
                )
            try:
                clean[name] = param.space.validate(value)
            except InvalidProposal as e:
                raise InvalidProposal(f"{name}: {e}", parameter=name, value=value) from None
        return clean

    def apply(self, update: Update) -> None:
        """Assign the update's values (all or nothing); remembered for :meth:`rollback`."""
        clean = self.validate(update.values)
        self._undo.append({name: self.by_name[name]._value for name in clean})
        for name, value in clean.items():
            self.by_name[name]._value = value

    def rollback(self) -> bool:
        """Undo the last :meth:`apply`; False when there is nothing to undo."""
        if not self._undo:
            return False
        for name, value in self._undo.pop().items():
            self.by_name[name]._value = value
        return True

    def step(self, propagated: Mapping[Parameter, Any] | None = None) -> Update:
        """Propose one update and apply it."""
        update = self.propose(propagated, k=1)[0]
        self.apply(update)
        return update

    @staticmethod
    def score(feedback: Feedback) -> float | None:
        """The feedback's score, or None for a failed evaluation (or a NaN score)."""
        if feedback.failed or feedback.score is None or math.isnan(feedback.score):
            return None
        return feedback.score

    def _names(self, kinds: Sequence[str]) -> list[str]:
        return [n for n, p in self.by_name.items() if p.space.kind in kinds]
