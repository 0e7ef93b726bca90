"""The optimizer contract: propose apart from apply, observe scores, roll back, resume.

Propose and apply are apart so a proposal can be logged, shown to a person, or
evaluated (under ``trace_core.using(update.values)``) without touching the live
parameters. Every value in an :class:`Update` has passed its parameter's space once,
when the update was made (:meth:`Optimizer.update`, or a reply parser that validates);
:meth:`Optimizer.apply` trusts it and writes through :meth:`Parameter.write`.
"""

from __future__ import annotations

import abc
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from trace_core import Feedback, Parameter, unique_names
from trace_core.errors import InvalidProposal
from trace_core.feedback import Direction
from trace_core.outcome import score as _score

__all__ = ["Update", "Optimizer", "LLMCall", "ProposalFailure"]

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
class ProposalFailure:
    """Why a proposal holds no values: ``kind`` ``"llm"`` (the LLM call failed) or
    ``"reply"`` (the replies could not be used, after repairs); ``error`` says what."""

    kind: Literal["llm", "reply"]
    error: str


@dataclass(frozen=True)
class Update:
    """A proposal: parameter name -> new (validated) value, with its reasoning.

    ``values`` empty means "no change"; ``failure`` says why when the optimizer could
    not propose; ``meta`` carries optimizer data (e.g. the Optuna trial number) and
    ``id`` ties a later ``observe`` to this proposal. :meth:`Optimizer.update` makes one
    from raw values, validating them once (``checked``); :meth:`Optimizer.apply` trusts
    a checked update and validates one made by hand.

    Example:
        >>> Update({"lr": 0.01}, reasoning="smaller steps").no_change
        False
    """

    values: dict[str, Any]
    reasoning: str = ""
    llm_calls: tuple[LLMCall, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    failure: ProposalFailure | None = None
    checked: bool = field(default=False, compare=False, repr=False)  # the values passed their spaces

    @property
    def no_change(self) -> bool:
        return not self.values

    @property
    def tokens(self) -> int:
        return sum(c.prompt_tokens + c.completion_tokens for c in self.llm_calls)

    @property
    def cost_usd(self) -> float | None:
        """What the calls cost; None when the price of one of them is unknown."""
        if any(c.cost_usd is None and not c.cached for c in self.llm_calls):
            return None
        return sum(c.cost_usd or 0.0 for c in self.llm_calls)


class Optimizer(abc.ABC):
    """Base of all optimizers. Subclasses implement :meth:`propose` and usually
    :meth:`observe`, :meth:`state_dict` and :meth:`load_state_dict`.

    ``direction`` may be changed until the first proposal (the loop sets it from the
    task). ``needs_trace`` tells the loop whether :meth:`propose` reads the traced
    graph and feedback; when False the loop skips the forward and backward passes.
    ``needs_llm`` says that it cannot be built without an LLM (the registry refuses to
    build it by name without one, saying how to configure one).
    """

    needs_trace: bool = True
    needs_llm: bool = False

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

    #: True when :meth:`state_dict` holds only what changed since its previous call; a
    #: resumed run then gives :meth:`load_state_dicts` the states of every step.
    state_is_delta: bool = False

    def load_state_dicts(self, states: Sequence[Mapping[str, Any]]) -> None:
        """Restore from the states of every committed step, oldest first (default: the last)."""
        if states:
            self.load_state_dict(states[-1])

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

    def update(self, values: Mapping[str, Any], reasoning: str = "", **fields: Any) -> Update:
        """An :class:`Update` of ``values`` checked by their spaces (raises
        :class:`InvalidProposal`); ``fields`` are the other fields of Update."""
        return Update(self.validate(values), reasoning=reasoning, checked=True, **fields)

    def apply(self, update: Update) -> None:
        """Assign the update's values, all or nothing; remembered for :meth:`rollback`.
        A checked update (made by :meth:`update` or a reply parser) is trusted; one made
        by hand is validated first (:class:`InvalidProposal`, nothing assigned)."""
        values = update.values if update.checked else self.validate(update.values)
        unknown = sorted(set(values) - set(self.by_name))
        if unknown:
            raise InvalidProposal(f"the update names {unknown}, which this optimizer does not hold; its parameters "
                                  f"are {sorted(self.by_name)}", parameter=unknown[0])
        params = [(self.by_name[name], value) for name, value in values.items()]
        self._undo.append({p.name: p._value for p, _ in params})  # the live values, not a using() override
        for param, value in params:
            param.write(value)

    def rollback(self) -> bool:
        """Undo the last :meth:`apply`; False when there is nothing to undo."""
        if not self._undo:
            return False
        for name, value in self._undo.pop().items():
            self.by_name[name].write(value)
        return True

    def step(self, propagated: Mapping[Parameter, Any] | None = None) -> Update:
        """Propose one update and apply it."""
        update = self.propose(propagated, k=1)[0]
        self.apply(update)
        return update

    score = staticmethod(_score)  # the feedback's score, or None for a failure or a NaN (trace_core.score)

    def _names(self, kinds: Sequence[str]) -> list[str]:
        return [n for n, p in self.by_name.items() if p.space.kind in kinds]
