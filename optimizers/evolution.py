"""Evolution: a (μ+λ) population with elitism, over Text parameters and the numbers beside them.

Children come from parents chosen by binary tournament: word-level crossover of two
parents and word mutation (replace, insert, delete, swap) with words from the
vocabulary and from the population (:mod:`optimizers._words`); with an ``llm``, an
LLM writes the text of a child from its parents and their feedback instead
(:mod:`optimizers._evolution_llm`), and a reply that cannot be used falls back to
word operators. Numbers (``Float``, ``Int`` and the numeric leaves of ``Json``) take
Gaussian steps inside their spaces; a ``Choice`` is resampled with a small
probability. ``Code`` is written only by the LLM operator (without one it is kept).

Several objectives (``objectives={"val_acc": "maximize", "n_params": "minimize"}``, read
from ``Feedback.metrics``) or constraints (``constraints=["cabin_volume >= 3.0"]``) switch
selection to NSGA-II (:mod:`optimizers._nsga`): survivors are chosen by constrained
non-dominated sorting (feasible first, Deb's rule) and crowding distance, and tournaments
use the crowded comparison. With one objective and no constraints selection is by score.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution

from optimizers import _flatten, _nsga, _words
from optimizers._evolution_llm import scored, write_child
from optimizers._values import key_of, to_json_values
from optimizers.base import LLMCall, Optimizer, Update
from trace_core import Feedback, Objectives, Parameter
from trace_core.errors import ConfigError, InvalidProposal
from trace_core.feedback import Direction

__all__ = ["Evolution"]

log = logging.getLogger(__name__)

_TRIES = 12  # attempts to make a valid child not seen before
_LLM_TRIES = 2  # of which at most this many ask the LLM
_FEEDBACK_CHARS = 600


class Evolution(Optimizer):
    """A (μ+λ) evolutionary optimizer with word-level and LLM operators.

    Args:
        parameters: Text parameters (and any Float, Int, Choice, Json, Code beside them).
        population: μ, the individuals kept (the best, so the best is never lost).
        offspring: λ, the children of one generation: once λ children are observed, the
            best μ of parents and children become the next parents. (Until μ individuals
            were observed, every observation joins the parents.) ``k`` in ``propose``
            is how many children one call returns.
        vocabulary: words mutation may insert (plus every word seen in the population).
        llm: an LLM that writes children from parents and their feedback.
        llm_rate: the share of children the LLM writes when there is one.
        crossover_rate: the share of children made from two parents.
        sigma: a Gaussian step's width as a share of a numeric range (or log range).
        choice_rate: the probability a Choice (or categorical leaf) is resampled.
        objective: what the LLM operator is told the goal is.
        objectives: ``{"metric": "maximize" | "minimize"}`` read from ``Feedback.metrics``:
            NSGA-II selection over these objectives (``direction`` becomes the first one's).
        constraints: ``"metric >= bound"`` / ``"metric <= bound"``: infeasible individuals
            lose to feasible ones and to less infeasible ones (with one objective too).

    Example:
        >>> from trace_core import Feedback, Parameter
        >>> from trace_core.spaces import Text
        >>> p = Parameter("be brief", name="prompt", space=Text())
        >>> opt = Evolution([p], vocabulary=["exact", "polite"], seed=0)
        >>> children = opt.propose(k=2)
        >>> opt.observe(children[0].values, Feedback(score=1.0), update=children[0])
        >>> opt.state_dict()["population"][0]["score"]
        1.0
    """

    needs_trace = False

    def __init__(self, parameters: Iterable[Parameter], *, population: int = 8, offspring: int = 8,
                 vocabulary: Sequence[str] | None = None, llm: Any = None, seed: int | None = None,
                 llm_rate: float = 1.0, crossover_rate: float = 0.5, sigma: float = 0.1, choice_rate: float = 0.1,
                 objective: str | None = None, max_repairs: int = 1, direction: Direction = "maximize",
                 templates: Mapping[str, str] | None = None,
                 objectives: Mapping[str, str] | Objectives | None = None, constraints: Iterable[Any] = ()):
        try:
            self.objectives = Objectives.of(objectives or {"score": direction}, constraints)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self.multi = objectives is not None
        self.nsga = self.multi or bool(self.objectives.constraints)  # else: selection by score, as ever
        super().__init__(parameters, direction=self.objectives.senses[0] if self.multi else direction)
        self.templates = dict(templates or {})
        if population < 1 or offspring < 1:
            raise ValueError(f"population and offspring must be at least 1, got {population}, {offspring}")
        self.mu, self.lam, self.vocabulary = population, offspring, list(vocabulary or ())
        self.llm, self.llm_rate, self.crossover_rate = llm, llm_rate, crossover_rate
        self.sigma, self.choice_rate, self.objective, self.max_repairs = sigma, choice_rate, objective, max_repairs
        self.rng = random.Random(seed)
        self.population: list[dict[str, Any]] = []  # parents {"values": json, "score", "feedback"}, best first
        self.children: list[dict[str, Any]] = []  # observed children of this generation
        self.text_names = self._names(["text"])
        self.llm_names = self._names(["text", "code"]) if llm is not None else []
        self.specs = {n: _flatten.spec_of(p.space) for n, p in self.by_name.items()}
        self.numeric_names = [n for n, s in self.specs.items() if _flatten.dimensions(s)]
        kept = [n for n in self.by_name if n not in self.text_names + self.llm_names + self.numeric_names]
        if kept:
            log.info("Evolution keeps %s unchanged (Code needs llm=; other spaces have nothing to mutate)", kept)

    # -- selection ----------------------------------------------------------------------------
    def _rank(self, ind: Mapping[str, Any]) -> float:
        s = ind.get("score")
        if s is None or math.isnan(s):
            return math.inf
        return -s if self.direction == "maximize" else s

    def _pick(self, exclude: Mapping[str, Any] | None = None) -> dict[str, Any]:
        pool = [i for i in self.population if i is not exclude] or self.population
        a, b = self.rng.choice(pool), self.rng.choice(pool)
        if self.nsga:  # the population is in crowded-comparison order (front, then crowding)
            return a if self.population.index(a) <= self.population.index(b) else b
        return a if self._rank(a) <= self._rank(b) else b

    def _senses(self) -> tuple[Direction, ...]:
        return self.objectives.senses if self.multi else (self.direction,)

    def _measure(self, feedback: Feedback, score: float | None) -> dict[str, Any]:
        """The objectives' values (None: failed) and the total constraint violation (0: feasible).

        A failed evaluation whose constraint metrics are out of bounds is infeasible, ranked
        by how far; a failure for any other reason, or a missing constraint metric, is failed."""
        values = self.objectives.values(feedback.metrics) if self.multi else None if score is None else (score,)
        violation = sum(max(0.0, v) for v in self.objectives.violations(feedback.metrics))
        if not math.isfinite(violation) or (feedback.failed and violation <= 0):
            values, violation = None, 0.0
        names = self.objectives.names if self.multi else ("score",)
        return {"objectives": None if values is None else dict(zip(names, values)), "violation": violation}

    def _survivors(self, individuals: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        """The best ``n`` of ``individuals``, best first: by score, or by NSGA-II (front, then
        crowding distance; each survivor keeps its ``front``, 0 the best)."""
        if not self.nsga:
            return sorted(individuals, key=self._rank)[:n]  # stable sort
        points = [None if i["objectives"] is None else tuple(i["objectives"].values()) for i in individuals]
        violation = [i["violation"] for i in individuals]
        front = [s.rank for s in _nsga.standings(points, violation, self._senses())]
        best = _nsga.order(points, violation, self._senses())[:n]
        for j in best:
            individuals[j]["front"] = front[j]
        return [individuals[j] for j in best]

    def observe(self, values: Mapping[str, Any], feedback: Feedback, *, update: Update | None = None) -> None:
        try:
            clean = self.validate({n: values.get(n, p.value) for n, p in self.by_name.items()})
        except InvalidProposal as e:
            log.warning("observed values outside the spaces are not added to the population: %s", e)
            return
        data = to_json_values(self.by_name, clean)
        key = key_of(data)
        text = feedback.text if len(feedback.text) <= _FEEDBACK_CHARS else feedback.text[:_FEEDBACK_CHARS] + " …"
        score = self.score(feedback)
        individual = {"values": data, "score": score, "feedback": text}
        if self.nsga:
            individual.update(self._measure(feedback, score))
        for group in (self.population, self.children):  # a value seen again: its latest evaluation counts
            group[:] = [i for i in group if key_of(i["values"]) != key]
        if len(self.population) < self.mu:
            self.population = self._survivors(self.population + [individual], self.mu)
            return
        self.children.append(individual)
        if len(self.children) >= self.lam:  # (μ+λ): the best of parents and children survive
            self.population = self._survivors(self.population + self.children, self.mu)
            self.children = []

    # -- variation ------------------------------------------------------------------------------
    def propose(self, propagated: Mapping[Parameter, Any] | None = None, k: int = 1) -> list[Update]:
        live = {"values": to_json_values(self.by_name, self.values()), "score": None, "feedback": ""}
        seen = {key_of(i["values"]) for i in self.population + self.children} | {key_of(live["values"])}
        updates = []
        for _ in range(k):
            update = self._child(live, seen)
            seen.add(key_of(to_json_values(self.by_name, update.values)))
            updates.append(update)
        return updates

    def _child(self, live: dict[str, Any], seen: set[str]) -> Update:
        pool = _words.word_pool([v for i in self.population + [live] for n, v in i["values"].items()
                                 if n in self.text_names], self.vocabulary)
        calls: list[LLMCall] = []  # every LLM call this child cost, kept on the update
        update = valid = None
        for attempt in range(_TRIES):
            parents = [self._pick()] if self.population else [live]
            if len(self.population) > 1 and self.rng.random() < self.crossover_rate:
                parents.append(self._pick(exclude=parents[0]))
            if self.llm_names and attempt < _LLM_TRIES and self.rng.random() < self.llm_rate:
                update = self._llm_child(parents, pool, calls)
            else:  # children seen before: mutate more words at once
                update = self._word_child(parents, pool, rounds=1 + attempt // 3)
            if update is None:
                continue
            key = key_of(to_json_values(self.by_name, update.values))
            if key not in seen:
                return dataclasses.replace(update, llm_calls=tuple(calls))
            if key != key_of(live["values"]):
                valid = dataclasses.replace(update, llm_calls=tuple(calls))
        return valid or Update({}, reasoning=f"no change: no new valid child in {_TRIES} tries (the spaces refused "
                               "them or the operators had nothing to change)", llm_calls=tuple(calls))

    def _base(self, parents: list[dict[str, Any]]) -> dict[str, Any]:
        """The first parent's values, each non-text value taken from either parent (uniform crossover)."""
        child = dict(parents[0]["values"])
        if len(parents) > 1:
            for n in self.by_name:
                if n not in self.text_names and self.rng.random() < 0.5:
                    child[n] = parents[1]["values"][n]
        return child

    def _word_child(self, parents: list[dict[str, Any]], pool: list[str], notes: Sequence[str] = (),
                    rounds: int = 1) -> Update | None:
        a, b = parents[0]["values"], parents[-1]["values"]
        child, done = self._base(parents), list(notes)
        for n in self.text_names:
            if len(parents) > 1:
                child[n], what = _words.crossover(a[n], b[n], self.rng)
                done.append(f"{n}: {what}")
        mutated = [n for n in self.text_names if self.rng.random() < 1 / len(self.text_names)]
        if self.text_names and not mutated:
            mutated = [self.rng.choice(self.text_names)]
        for n in mutated:
            for _ in range(rounds):
                child[n], what = _words.mutate(child[n], pool, self.rng)
                done.append(f"{n}: {what}")
        return self._finish(parents, child, "word", "; ".join(done))

    def _llm_child(self, parents: list[dict[str, Any]], pool: list[str], calls: list[LLMCall]) -> Update | None:
        goal = self._goal()
        result = write_child(self.llm, self, parents, self.llm_names, objective=goal, vocabulary=self.vocabulary,
                             max_repairs=self.max_repairs, templates=self.templates)
        calls.extend(result.calls)
        if result.values is None:
            note = f"LLM operator failed ({result.error}); word operators used"
            log.info("Evolution: %s", note)
            update = self._word_child(parents, pool, [note])
            return None if update is None else dataclasses.replace(update, meta={**update.meta,
                                                                                  "llm_error": result.error})
        child = {**self._base(parents), **to_json_values(self.by_name, result.values)}
        return self._finish(parents, child, "llm", result.reasoning)

    def _goal(self) -> str:
        """What the LLM operator is told: the objective, and with several objectives or
        constraints what a good child is."""
        if not self.nsga:
            return self.objective or f"{self.direction} the score"
        goal = f"{self.objective}\n\n" if self.objective else ""
        if self.multi:
            aims = ", ".join(f"{s} {n}" for n, s in zip(self.objectives.names, self.objectives.senses))
        else:
            aims = f"{self.direction} the score"
        goal += f"Objectives: {aims}"
        if self.objectives.constraints:
            goal += "; respect " + ", ".join(str(c) for c in self.objectives.constraints)
        goal += "."
        if self.multi:
            goal += (" A child is good when no parent beats it on every objective: better on one objective "
                     "without being worse on another, or a new trade-off between them.")
        return goal

    def _finish(self, parents: list[dict[str, Any]], child: dict[str, Any], operator: str, what: str) -> Update | None:
        """Step the numbers, validate everything; None when a space refuses the child."""
        for n in self.numeric_names:
            child[n] = _flatten.sample(self.specs[n], n, child[n], self._step)
        try:
            values = self.validate(child)  # decodes the JSON data and checks it, once
        except InvalidProposal as e:
            log.debug("child refused by a space: %s", e)
            return None
        kind = "crossover" if len(parents) > 1 else "mutation"
        if self.nsga:
            scores = "; ".join(scored(p) for p in parents)
        else:
            scores = ", ".join("unscored" if p["score"] is None else f"{p['score']:g}" for p in parents)
        return Update(values, reasoning=f"{operator} {kind} of parent(s) scored {scores}: {what}",
                      meta={"operator": f"{operator}-{kind}"}, checked=True)

    def _step(self, key: str, dist: BaseDistribution, current: Any) -> Any:
        """A Gaussian step (numbers) or a rare resample (categories) inside ``dist``."""
        rng = self.rng
        if isinstance(dist, CategoricalDistribution):
            if current is None or current not in dist.choices or rng.random() < self.choice_rate:
                return rng.choice(dist.choices)
            return current
        lo, hi, log_scale = dist.low, dist.high, dist.log
        if current is None:
            current = rng.uniform(lo, hi)
        to = (math.log, math.exp) if log_scale else (float, float)
        a, b = to[0](lo), to[0](hi)
        x = min(b, max(a, to[0](current) + rng.gauss(0.0, self.sigma * (b - a))))
        x = min(hi, max(lo, to[1](x)))
        return x if isinstance(dist, FloatDistribution) else int(round(x))

    # -- resume ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {"population": [dict(i) for i in self.population], "children": [dict(i) for i in self.children],
                "rng": [version, list(internal), gauss],
                "direction": self.direction}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.direction = state.get("direction", self.direction)
        self.population = [dict(i) for i in state.get("population", [])]
        if self.nsga and any("objectives" not in i for i in self.population):
            log.warning("the saved population has no objective values (saved with one objective); "
                        "selection starts from the individuals observed from now on")
            self.population = []
        if not self.nsga:
            self.population.sort(key=self._rank)
        elif any("front" not in i for i in self.population):  # saved in NSGA-II order already, else sort
            self.population = self._survivors(self.population, len(self.population))
        self.children = [dict(i) for i in state.get("children", []) if not self.nsga or "objectives" in i]
        if state.get("rng"):
            version, internal, gauss = state["rng"]
            self.rng.setstate((version, tuple(internal), gauss))
