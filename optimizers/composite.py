"""Composite: several optimizers, each over its own parameters, proposing together.

The i-th update of a composite merges the i-th update of every part; ``observe`` gives
each part its own values, the shared feedback and its own sub-update. This is how
:func:`optimizers.default` pairs Search (numbers) with Evolution (text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from optimizers.base import Optimizer, Update
from trace_core import Feedback, Parameter
from trace_core.errors import ConfigError
from trace_core.feedback import Direction

__all__ = ["Composite"]


class Composite(Optimizer):
    """Optimizers over disjoint parameter sets, merged into one.

    Example:
        >>> from trace_core import Parameter
        >>> from trace_core.spaces import Float, Text
        >>> from optimizers import Evolution, Search
        >>> x = Parameter(0.5, name="x", space=Float(0, 1))
        >>> p = Parameter("be brief", name="prompt", space=Text())
        >>> opt = Composite([Search([x], seed=0), Evolution([p], seed=0)])
        >>> sorted(opt.propose(k=1)[0].values)
        ['prompt', 'x']
    """

    def __init__(self, parts: Sequence[Optimizer], *, direction: Direction | None = None):
        if not parts:
            raise ValueError("a Composite needs at least one optimizer")
        self.parts = list(parts)
        owner: dict[int, Optimizer] = {}
        for part in self.parts:
            for p in part.parameters:
                if id(p) in owner:
                    raise ConfigError(f"parameter {p.name!r} belongs to two optimizers of a Composite; "
                                      "give each parameter to one")
                owner[id(p)] = part
        super().__init__([p for part in self.parts for p in part.parameters],
                         direction=direction or self.parts[0].direction)
        self._subs: dict[str, list[Update]] = {}

    @property
    def direction(self) -> Direction:
        return self._direction

    @direction.setter
    def direction(self, value: Direction) -> None:
        self._direction = value
        for part in self.parts:
            part.direction = value

    @property
    def needs_trace(self) -> bool:
        return any(getattr(part, "needs_trace", True) for part in self.parts)

    def propose(self, propagated: Mapping[Parameter, Any] | None = None, k: int = 1) -> list[Update]:
        proposals = [part.propose(propagated, k=k) for part in self.parts]
        updates = []
        for subs in zip(*proposals):
            values = {n: v for u in subs for n, v in u.values.items()}
            merged = Update(values,
                            reasoning="\n".join(f"{type(part).__name__}: {u.reasoning}"
                                                for part, u in zip(self.parts, subs) if u.reasoning),
                            llm_calls=tuple(c for u in subs for c in u.llm_calls),
                            meta={"parts": [u.meta for u in subs]},
                            failure=None if values else next((u.failure for u in subs if u.failure), None),
                            checked=all(u.checked for u in subs))
            self._subs[merged.id] = list(subs)
            updates.append(merged)
        return updates

    def observe(self, values: Mapping[str, Any], feedback: Feedback, *, update: Update | None = None) -> None:
        subs = self._subs.pop(update.id, None) if update is not None else None
        for i, part in enumerate(self.parts):
            own = {n: v for n, v in values.items() if n in part.by_name}
            part.observe(own, feedback, update=subs[i] if subs else None)

    def reporter(self, update: Update) -> Any:
        """The reporter of the first part that gives one (Search's, for pruning)."""
        for part, sub in zip(self.parts, self._subs.get(update.id, ())):
            reporter = part.reporter(sub)
            if reporter is not None:
                return reporter
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [part.state_dict() for part in self.parts],
                "pending": {uid: [u.id for u in subs] for uid, subs in self._subs.items()}}

    @property
    def state_is_delta(self) -> bool:  # type: ignore[override]
        return any(part.state_is_delta for part in self.parts)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.load_state_dicts([state])

    def load_state_dicts(self, states: Sequence[Mapping[str, Any]]) -> None:
        if not states:
            return
        state = states[-1]
        for s in states:
            if len(s.get("parts", [])) != len(self.parts):
                raise ConfigError(f"this state has {len(s.get('parts', []))} parts, the Composite {len(self.parts)}; "
                                  "resume with the same optimizers")
        for i, part in enumerate(self.parts):
            part.load_state_dicts([s["parts"][i] for s in states])
        # pending sub-updates come back as bare ids: parts match them by id (Search) or by values
        self._subs = {uid: [Update({}, id=i) for i in ids] for uid, ids in state.get("pending", {}).items()}
