"""The records a run is made of: a :class:`Candidate` (a proposal and its evaluation), a
:class:`Proposal` (a step's candidates before the step is decided), a :class:`StepOutcome`
(what the store writes for one step), and what a caller gets back (:class:`StepRecord`,
:class:`RunResult`). All frozen: the loop makes them, the store maps them to tables.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.evaluate import EvalResult
from optimizers.base import Update
from trace_core import better
from trace_core.feedback import Direction
from trace_core.outcome import Outcome, score

if TYPE_CHECKING:
    from agents._front import FrontState

__all__ = ["Candidate", "Proposal", "StepOutcome", "StepRecord", "RunResult", "NO_CHANGE"]

NO_CHANGE = "no change"  # the stored status of a candidate that was not evaluated


@dataclass(frozen=True)
class Candidate:
    """One proposal of a step: the update, its values as JSON data (what is stored), and
    its evaluation (None: not evaluated, the update said "no change" or failed)."""

    update: Update
    values: Mapping[str, Any]
    result: EvalResult | None = None

    @property
    def outcome(self) -> Outcome | None:
        return None if self.result is None else self.result.outcome

    @property
    def score(self) -> float | None:
        return None if self.result is None else score(self.result.feedback)

    @property
    def status(self) -> str:
        """The outcome's value, or ``"no change"`` when the candidate was not evaluated."""
        return NO_CHANGE if self.result is None else self.result.outcome.value


def best_of(candidates: tuple[Candidate, ...], direction: Direction) -> int | None:
    """The index of the best scored candidate; without any score (text-only feedback),
    the first that was evaluated and did not fail; None when all failed."""
    best: int | None = None
    for i, c in enumerate(candidates):
        s = c.score
        if s is not None and (best is None or better(s, candidates[best].score, direction)):
            best = i
    if best is None:
        best = next((i for i, c in enumerate(candidates) if c.result is not None and c.result.outcome.ok
                     and not c.result.feedback.failed), None)
    return best


@dataclass(frozen=True)
class Proposal:
    """A proposed step: every candidate (evaluated or not) and which evaluated one is
    best, not yet applied or committed. ``best`` indexes :attr:`evaluated`."""

    candidates: tuple[Candidate, ...]
    best: int | None
    train_feedback: Any = None
    graph: str | None = None
    started: float = 0.0

    @property
    def evaluated(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.result is not None)

    @property
    def updates(self) -> list[Update]:
        return [c.update for c in self.candidates]

    @property
    def todo(self) -> list[Update]:
        """The updates that were evaluated, in order."""
        return [c.update for c in self.evaluated]

    @property
    def results(self) -> list[EvalResult]:
        return [c.result for c in self.evaluated if c.result is not None]

    @property
    def best_score(self) -> float | None:
        return None if self.best is None else self.evaluated[self.best].score

    def choose(self, best: int | None) -> Proposal:
        """The same proposal with another best candidate (a person's choice)."""
        return dataclasses.replace(self, best=best)


@dataclass(frozen=True)
class StepOutcome:
    """What one committed step holds, as the store writes it. ``values`` (JSON data) are
    the parameters' values after the step: the snapshot a run resumes or rolls back to."""

    step: int
    values: Mapping[str, Any]
    incumbent_score: float | None
    accepted: bool
    candidates: tuple[Candidate, ...] = ()
    best_candidate_score: float | None = None
    optimizer_state: Mapping[str, Any] | None = None
    spent: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    train_feedback: Any = None
    graph: str | None = None
    initial_score: float | None = None  # written on step 0
    front: FrontState | None = None  # a multi-objective run's front after the step (agents._front)

    @property
    def tokens(self) -> int:
        return sum(c.update.tokens for c in self.candidates)

    @property
    def cost_usd(self) -> float | None:
        """What the step's LLM calls cost; None when the price of one of them is unknown."""
        costs = [c.update.cost_usd for c in self.candidates]
        return None if None in costs else sum(costs)


@dataclass
class StepRecord:
    """What one step did (given to ``on_step`` and kept in :attr:`RunResult.history`)."""

    step: int
    incumbent_score: float | None
    candidate_scores: list[float | None]
    accepted: bool
    values: dict[str, Any]
    tokens: int = 0
    cost_usd: float | None = 0.0  # None: the price of a call is unknown
    seconds: float = 0.0
    statuses: list[str] = field(default_factory=list)  # the Outcome of each evaluated candidate
    front_size: int | None = None  # a multi-objective run: candidates on the front after the step
    hypervolume: float | None = None  # ... and its hypervolume


@dataclass
class RunResult:
    """The outcome of a run: best values and score, history, costs, why it stopped, and
    how its evaluations ended (``outcomes``: Outcome value -> count), how many
    proposals failed (``proposal_failures``: ``"llm"`` / ``"reply"`` -> count), and the
    first failed evaluation (``first_error``: ``type``, ``message``, ``frame`` — the
    user's code that raised —, ``traceback``, ``step``, ``outcome``; None when none failed)."""

    run_id: str
    best_values: dict[str, Any]
    best_score: float | None
    initial_score: float | None
    history: list[StepRecord]
    stop_reason: str
    spent: dict[str, float]
    direction: Direction
    tokens: int = 0
    cost_usd: float | None = 0.0  # None: the price of a call is unknown
    store_url: str = ""
    outcomes: dict[str, int] = field(default_factory=dict)
    proposal_failures: dict[str, int] = field(default_factory=dict)
    first_error: dict[str, Any] | None = None
    front: dict[str, Any] | None = None  # a multi-objective run's front (RunStore.front); None for one objective

    @property
    def improved(self) -> bool:
        return better(self.best_score, self.initial_score, self.direction)

    @property
    def failures(self) -> dict[str, int]:
        """Evaluations that did not end ``done``, by outcome."""
        return {k: n for k, n in self.outcomes.items() if k != Outcome.DONE.value and n}


class Tally:
    """Counts of evaluation outcomes and failed proposals over a run (restored on resume)."""

    def __init__(self, outcomes: Mapping[str, int] | None = None, failures: Mapping[str, int] | None = None):
        self.outcomes: Counter[str] = Counter(outcomes or {})
        self.failures: Counter[str] = Counter(failures or {})

    def add(self, candidates: tuple[Candidate, ...]) -> None:
        for c in candidates:
            if c.result is not None:
                self.outcomes[c.result.outcome.value] += 1
            if c.update.failure is not None:
                self.failures[c.update.failure.kind] += 1
