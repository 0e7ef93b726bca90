"""HillClimb: change one number or choice of the incumbent at a time, with a step size
that grows after an improvement and shrinks after a miss (the 1/5th success rule of
evolution strategies). Parameters of other spaces (text, code, Json) are kept."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from typing import Any

from optimizers import Optimizer, Update
from trace_core import Feedback, Parameter, better
from trace_core.errors import ConfigError, InvalidProposal
from trace_core.spaces import Choice, Float, Int

__all__ = ["HillClimb"]


class HillClimb(Optimizer):
    """Propose neighbours of the current values, one parameter changed in each.

    Example:
        >>> from trace_core.spaces import Float
        >>> opt = HillClimb([Parameter(0.5, name="x", space=Float(0, 1))], seed=0)
        >>> [sorted(u.values) for u in opt.propose(k=2)]
        [['x'], ['x']]
    """

    needs_trace = False  # proposals read scores only, not the traced graph

    def __init__(self, parameters: Iterable[Parameter], *, seed: int | None = None, step: float = 0.2,
                 direction: str = "maximize"):
        super().__init__(parameters, direction=direction)  # type: ignore[arg-type]
        self.movable = [p for p in self.parameters if _movable(p)]
        if not self.movable:
            raise ConfigError("HillClimb moves Float, Int and Choice parameters; none of "
                              f"{[p.name for p in self.parameters]} is one")
        if not 0 < step <= 1:
            raise ConfigError(f"step is a fraction of each range, in (0, 1]; got {step}")
        self.seed, self.step_size = seed or 0, step
        self.best: float | None = None
        self.proposals = 0

    def propose(self, propagated: Mapping[Parameter, Any] | None = None, k: int = 1) -> list[Update]:
        rng = random.Random(f"{self.seed}:{self.proposals}")  # resumes without storing a generator
        self.proposals += 1
        updates = []
        for _ in range(k):
            p = rng.choice(self.movable)
            value = _neighbour(p, self.step_size, rng)
            updates.append(self.update({p.name: value}, reasoning=f"move {p.name} from {p.value!r} to {value!r}"))
        return updates

    def observe(self, values: Mapping[str, Any], feedback: Feedback, *, update: Update | None = None) -> None:
        score = self.score(feedback)
        if score is None:
            return
        try:
            self.validate({n: v for n, v in values.items() if n in self.by_name})
        except InvalidProposal:
            return  # values outside the spaces: not ours to learn from
        if better(score, self.best, self.direction):
            self.best, self.step_size = score, min(1.0, self.step_size * 1.5)
        elif update is not None:
            self.step_size = max(0.01, self.step_size * 0.8)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "step": self.step_size, "proposals": self.proposals}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = state.get("best")
        self.step_size = float(state.get("step", self.step_size))
        self.proposals = int(state.get("proposals", 0))


def _movable(p: Parameter) -> bool:
    space = p.space
    if isinstance(space, Choice):
        return len(space.options) > 1
    return isinstance(space, (Float, Int)) and space.hi > space.lo


def _neighbour(p: Parameter, step: float, rng: random.Random) -> Any:
    """A value of ``p``'s space near its current value, never equal to it."""
    space, value = p.space, p.value
    if isinstance(space, Choice):
        return rng.choice([o for o in space.options if o != value])
    if isinstance(space, Int):
        jump = max(1, round(step * (space.hi - space.lo)))
        moved = value + rng.choice([-1, 1]) * rng.randint(1, jump)
        moved = min(space.hi, max(space.lo, moved))
        return moved if moved != value else (value + 1 if value < space.hi else value - 1)
    if space.log:
        lo, hi, x = math.log(space.lo), math.log(space.hi), math.log(value)
        return math.exp(min(hi, max(lo, x + rng.gauss(0, step * (hi - lo)))))
    return min(space.hi, max(space.lo, value + rng.gauss(0, step * (space.hi - space.lo))))
