"""The front an LLM optimizer shows on a multi-objective task.

A :class:`FrontMemory` keeps every candidate an optimizer observed with its objective
values, and writes the prompt section (``prompts/front/section.md``) that shows the
current front compactly: the non-dominated feasible candidates (at most ``max_shown``,
spread over the front), their objective values and what each changes from the current
values, then asks for a candidate that dominates one of them or that extends the front
in a named direction ("lower n_params than 1200 at about the same val_acc"). The
direction turns from objective to objective as candidates are observed, so successive
prompts push the front in every direction; it depends on the observations only, so the
same history gives the same prompt.

Example:
    >>> from trace_core import Feedback, Objectives
    >>> memory = FrontMemory(Objectives.of({"acc": "maximize", "size": "minimize"}))
    >>> memory.observe({"w": 8}, Feedback(score=0.8, metrics={"acc": 0.8, "size": 100}))
    >>> memory.observe({"w": 4}, Feedback(score=0.7, metrics={"acc": 0.7, "size": 200}))
    >>> [e["values"] for e in memory.front()]
    [{'w': 8}]
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from optimizers._values import key_of
from trace_core import Objectives, prompts
from trace_core.errors import ConfigError
from trace_core.feedback import Feedback

__all__ = ["FrontMemory", "dominated_counts"]

_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MAX_CHANGES = 3  # changed parameters listed per front member; the rest are counted


def dominated_counts(points: Sequence[Sequence[float]], senses: Sequence[str]) -> list[int]:
    """For each point, how many of ``points`` dominate it (0: on the front), as
    :func:`trace_core.dominates` says, vectorized: a long history stays fast.

    Example:
        >>> dominated_counts([(1.0, 1.0), (2.0, 2.0), (0.5, 3.0)], ["minimize", "minimize"])
        [0, 1, 0]
    """
    import numpy as np

    if not points:
        return []
    loss = np.asarray(points, dtype=float) * np.where(np.asarray(senses) == "maximize", -1.0, 1.0)
    counts = np.zeros(len(loss), dtype=int)
    for start in range(0, len(loss), 512):  # 512 rows at a time: memory stays linear in the points
        rows = loss[start : start + 512]
        no_worse = np.ones((len(rows), len(loss)), dtype=bool)  # [i, j]: row i is no worse than point j
        better = np.zeros_like(no_worse)
        for j in range(loss.shape[1]):
            no_worse &= rows[:, j, None] <= loss[None, :, j]
            better |= rows[:, j, None] < loss[None, :, j]
        counts += (no_worse & better).sum(axis=0)
    return [int(c) for c in counts]


def _num(x: float) -> str:
    return f"{x:.6g}"


def _change(name: str, old: Any, new: Any, limit: int) -> str:
    """``name old → new`` for short values; for long text the words removed and added."""
    from optimizers.optoprime.format import cut, format_json  # here: optoprime imports this module

    if isinstance(old, str) and isinstance(new, str) and len(old) + len(new) > limit:
        a, b = old.split(), new.split()
        removed, added = [], []
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
            if op != "equal":
                removed += a[i1:i2]
                added += b[j1:j2]
        parts = [f'-"{cut(" ".join(removed), limit // 2)}"' if removed else "",
                 f'+"{cut(" ".join(added), limit // 2)}"' if added else ""]
        return f"{name} {' '.join(p for p in parts if p) or '(whitespace only)'}"
    return f"{name} {format_json(old, limit)} → {format_json(new, limit)}"


class FrontMemory:
    """The candidates observed on a multi-objective task, and the prompt section of their front.

    Args:
        objectives: the objectives (and constraints) candidates are compared by.
        max_shown: the most front members the prompt lists (spread over the front).
        value_chars: each changed value is cut to about this many characters.
    """

    def __init__(self, objectives: Objectives, *, max_shown: int = 6, value_chars: int = 80):
        if max_shown < 1 or max_shown > len(_LABELS) or value_chars < 20:
            raise ConfigError(f"the front needs 1 <= max_front <= {len(_LABELS)} and value_chars >= 20; "
                              f"got {max_shown}, {value_chars}")
        self.objectives = objectives
        self.max_shown = max_shown
        self.value_chars = value_chars
        #: key of the values -> {"values": JSON data, "objectives": [numbers] or None (failed), "feasible": bool}
        self._entries: dict[str, dict[str, Any]] = {}
        self._front: list[dict[str, Any]] | None = None  # computed once per change

    @property
    def entries(self) -> list[dict[str, Any]]:
        """Every observed candidate, oldest first (values observed again count as their latest)."""
        return list(self._entries.values())

    def observe(self, values: Mapping[str, Any], feedback: Feedback) -> None:
        """Add JSON ``values`` with the objectives read from ``feedback.metrics`` (the same values
        again replace their entry); a failure or a missing objective has no objective values."""
        point = None if feedback.failed else self.objectives.values(feedback.metrics)
        key = key_of(values)
        self._entries.pop(key, None)
        self._front = None
        self._entries[key] = {"values": dict(values), "objectives": None if point is None else list(point),
                              "feasible": point is not None and self.objectives.feasible(feedback.metrics)}

    def entry(self, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """The entry of JSON ``values``, or None when they were not observed."""
        return self._entries.get(key_of(values))

    def point(self, values: Mapping[str, Any]) -> tuple[float, ...] | None:
        """The objective values of JSON ``values`` when observed, valued and feasible; else None."""
        e = self.entry(values)
        return tuple(e["objectives"]) if e is not None and e["objectives"] is not None and e["feasible"] else None

    def front(self) -> list[dict[str, Any]]:
        """The non-dominated feasible entries, in the order they were observed."""
        if self._front is None:
            valid = [e for e in self.entries if e["objectives"] is not None and e["feasible"]]
            counts = dominated_counts([e["objectives"] for e in valid], self.objectives.senses)
            self._front = [e for e, n in zip(valid, counts) if n == 0]
        return list(self._front)

    def goal(self, objective: str) -> str:
        """The instruction on a multi-objective task: the objective in words, then the senses
        and constraints (replaces "a higher score is better")."""
        senses = ", ".join(f"{s} {n}" for n, s in zip(self.objectives.names, self.objectives.senses))
        rules = "; ".join(str(c) for c in self.objectives.constraints)
        return (f"{objective.strip()} There are several objectives: {senses}"
                + (f"; constraints: {rules}" if rules else "") + ". No single best: improve the front.")

    def shown(self) -> list[dict[str, Any]]:
        """The front members the prompt lists: best first on the first objective, at most
        ``max_shown``: the best on each objective first, then others spread evenly along the front."""
        sign = -1.0 if self.objectives.senses[0] == "maximize" else 1.0
        members = sorted(self.front(), key=lambda e: [sign * e["objectives"][0], *e["objectives"][1:]])
        if len(members) <= self.max_shown:
            return members
        best = [max(range(len(members)), key=lambda i: (1.0 if sense == "maximize" else -1.0) * members[i]["objectives"][j])
                for j, sense in enumerate(self.objectives.senses)]
        last, m = len(members) - 1, max(self.max_shown - 1, 1)
        chosen = list(dict.fromkeys([*best, *(round(i * last / m) for i in range(self.max_shown))]))
        return [members[i] for i in sorted(chosen[: self.max_shown])]

    def section(self, current: Mapping[str, Any], limit: int | None = None) -> str:
        """The prompt section (``"\\n# The front ...\\n"``), or "" before a candidate has objective values.

        ``current`` is the live values as JSON data (what each member changes is said against
        them); ``limit`` caps ``value_chars`` (a shortened prompt cuts values harder)."""
        members = self.shown()
        if not members:
            return ""
        chars = max(20, min(self.value_chars, limit or self.value_chars))
        lines = []
        for label, e in zip(_LABELS, members):
            values = ", ".join(f"{n}={_num(v)}" for n, v in zip(self.objectives.names, e["objectives"]))
            changed = [n for n, v in e["values"].items() if n in current and key_of({0: current[n]}) != key_of({0: v})]
            changes = "; ".join(_change(n, current[n], e["values"][n], chars) for n in changed[:_MAX_CHANGES])
            more = f"; and {len(changed) - _MAX_CHANGES} more" if len(changed) > _MAX_CHANGES else ""
            lines.append(f"{label}. {values}; changes: {changes + more if changed else 'none (the current values)'}")
        hidden = len(self.front()) - len(members)
        if hidden:
            lines.append(f"(and {hidden} more on the front, between those shown)")
        text = prompts.render("front/section", count=len(self.front()), tried=len(self._entries), members="\n".join(lines),
                              direction=self.direction(members))
        return "\n" + text.strip() + "\n"

    def direction(self, members: Sequence[dict[str, Any]]) -> str:
        """Where to extend the front: better than its best member on one objective at about that
        member's other values; the objective turns with every observed candidate."""
        names, senses = self.objectives.names, self.objectives.senses
        j = len(self._entries) % len(names)
        sign = 1.0 if senses[j] == "maximize" else -1.0
        label, best = max(zip(_LABELS, members), key=lambda m: sign * m[1]["objectives"][j])
        others = ", ".join(f"{n}={_num(v)}" for i, (n, v) in enumerate(zip(names, best["objectives"])) if i != j)
        word = "higher" if senses[j] == "maximize" else "lower"
        if len(names) == 1:
            return f"{word} {names[j]} than {_num(best['objectives'][j])} (candidate {label})"
        return (f"{word} {names[j]} than {_num(best['objectives'][j])} (candidate {label}, the best on {names[j]}) "
                f"at about the same {others}")

    def state_dict(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self.entries]

    def load_state_dict(self, entries: Sequence[Mapping[str, Any]]) -> None:
        try:
            restored = [{"values": dict(e["values"]),
                         "objectives": None if e["objectives"] is None else [float(v) for v in e["objectives"]],
                         "feasible": bool(e["feasible"])} for e in entries]
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"the optimizer state has a malformed front ({e}); expected "
                              '[{"values": {...}, "objectives": [numbers] or null, "feasible": true}, ...]') from None
        self._entries, self._front = {key_of(e["values"]): e for e in restored}, None

    def __len__(self) -> int:
        return len(self._entries)
