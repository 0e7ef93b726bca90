"""Search: classical optimizers (TPE, CMA-ES, GP, random) through Optuna's ask/tell.

``Float``, ``Int``, ``Choice`` and ``Json`` parameters (models of bounded numbers,
choices and lists of them, see :mod:`optimizers._flatten`) are searched; Text is left
to :class:`~optimizers.Evolution` and Code to the LLM optimizers: Search keeps them
unchanged and says so once. The study lives in any Optuna storage (``storage=`` a
SQLite, PostgreSQL or journal-file URL), so several workers share one study.

The initial values are not enqueued as a trial by default: the loop evaluates the
incumbent and observes it, and a value Search never proposed is added to the study
as a finished trial. Pass ``enqueue_initial=True`` to make the first trial the current
values when Search is driven without observing the incumbent.

``observe`` tells the trial of the update (matched by the update, else by its values):
a score completes it, a failed or missing score fails it, and a Feedback with
``details["pruned"]`` marks it pruned. ``reporter(update)`` reports intermediate values
to the trial and raises :class:`~trace_core.errors.Pruned` when the pruner says so.
With an in-memory study, ``state_dict`` holds the trials finished since its previous call
(a delta, so a step costs the same however long the run) and ``load_state_dicts`` rebuilds
the study from the states of every step; with a storage URL the storage keeps them. After a resume the
sampler is reseeded with ``seed + number of trials`` so it does not replay its points.

Several objectives: ``objectives={"val_acc": "maximize", "n_params": "minimize"}`` makes a
study with one direction per objective and ``observe`` tells the objectives' values read
from ``Feedback.metrics`` (``Feedback.score`` is not used). ``constraints=["cabin_volume >=
3.0"]`` (with one objective or several) stores each trial's violations in its user
attribute ``"constraints"`` and, with Optuna 5, sets them with ``Trial.set_constraint``
before the trial is told, so every sampler that handles constraints reads them; with
Optuna 4 the named samplers read them through their ``constraints_func`` (an Optuna 4
sampler passed in needs ``constraints_func=`` :func:`constraints_of`). ``"nsga2"``, ``"nsga3"``, ``"tpe"``
(multi-objective TPE) and ``"gp"`` take several objectives and constraints.
"""

from __future__ import annotations

# Past 400 lines: one Optuna study seen through the optimizer contract (samplers, storage,
# ask/tell, one or several objectives, constraints, resume); its parts share the study state.

import logging
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    distribution_to_json,
    json_to_distribution,
)
from optuna.trial import TrialState

from optimizers import _flatten
from optimizers._values import same_values, to_json_values
from optimizers.base import Optimizer, Update
from trace_core import Feedback, Objectives, Parameter
from trace_core.errors import ConfigError, InvalidProposal, Pruned
from trace_core.feedback import Direction

__all__ = ["Search", "SAMPLERS", "constraints_of"]

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "cmaes", "gp", "random", "nsga2", "nsga3")
_CONSTRAINTS = "constraints"  # the trial attribute Optuna's samplers keep violations in
_SET_CONSTRAINT = hasattr(optuna.trial.Trial, "set_constraint")  # Optuna >= 5; constraints_func before
_MAX_RESAMPLES = 20
_SCHEMA_TRIES = 5
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def constraints_of(trial: optuna.trial.FrozenTrial) -> Sequence[float]:
    """The constraint violations Search stored on ``trial`` (``<= 0`` feasible): the
    ``constraints_func`` to give an Optuna sampler passed to Search with constraints."""
    return trial.user_attrs.get(_CONSTRAINTS, ())


def _sampler(name: str | optuna.samplers.BaseSampler, seed: int | None,
             constrained: bool = False) -> optuna.samplers.BaseSampler:
    if isinstance(name, optuna.samplers.BaseSampler):
        return name
    func = constraints_of if constrained and not _SET_CONSTRAINT else None
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, constraints_func=func)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, constraints_func=func)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=func)
    if name == "nsga3":
        return optuna.samplers.NSGAIIISampler(seed=seed, constraints_func=func)
    if name == "cmaes":
        if constrained:
            raise ConfigError("sampler='cmaes' does not take constraints; use 'tpe', 'gp', 'nsga2' or 'nsga3'")
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError("sampler='cmaes' needs the 'cmaes' package: pip install cmaes "
                              "(or use sampler='tpe' or 'gp')") from None
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise ConfigError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)} or pass an Optuna sampler")


def _pruner(pruner: str | optuna.pruners.BasePruner | None) -> optuna.pruners.BasePruner | None:
    if pruner is None or isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    table = {"median": optuna.pruners.MedianPruner, "hyperband": optuna.pruners.HyperbandPruner,
             "successive_halving": optuna.pruners.SuccessiveHalvingPruner, "none": optuna.pruners.NopPruner}
    if pruner not in table:
        raise ConfigError(f"unknown pruner {pruner!r}; choose one of {', '.join(table)} or pass an Optuna pruner")
    return table[pruner]()


def _storage_url(url: str | os.PathLike[str] | None) -> str | None:
    """A storage URL; a path ending in ``.db``/``.sqlite``/``.sqlite3`` becomes a SQLite URL."""
    if url is None:
        return None
    url = os.fspath(url)
    if "://" not in url and not url.startswith("journal:") and url.endswith(_SQLITE_SUFFIXES):
        return f"sqlite:///{os.path.abspath(url)}"
    return url


def _open_storage(url: str | None) -> optuna.storages.BaseStorage:
    """In memory (None), a journal file (``journal:PATH`` or a ``.log``/``.journal`` path) or a database URL."""
    if url is None:
        return optuna.storages.InMemoryStorage()
    if url.startswith("journal:") or ("://" not in url and url.endswith((".log", ".journal"))):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    if "://" not in url:
        raise ConfigError(f"storage {url!r} is not an Optuna storage URL; pass 'sqlite:///study.db', "
                          "'postgresql://user@host/db', a SQLite file path ending in .db or a journal file path "
                          "ending in .log")
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    for attempt in range(_SCHEMA_TRIES):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine)
        except sqlalchemy.exc.ArgumentError as e:
            raise ConfigError(f"storage {url!r} is not a database URL SQLAlchemy understands ({e})") from None
        except sqlalchemy.exc.SQLAlchemyError as e:  # workers starting together race to create the schema
            if attempt == _SCHEMA_TRIES - 1:
                raise
            log.debug("another worker is creating the Optuna schema; retrying: %s", e)
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _suggest(trial: optuna.Trial) -> _flatten.Draw:
    def draw(key: str, dist: BaseDistribution, current: Any) -> Any:
        if isinstance(dist, CategoricalDistribution):
            return trial.suggest_categorical(key, dist.choices)
        if isinstance(dist, FloatDistribution):
            return trial.suggest_float(key, dist.low, dist.high, log=dist.log, step=dist.step)
        return trial.suggest_int(key, dist.low, dist.high, log=dist.log, step=dist.step)
    return draw


class _Reporter:
    """Reports intermediate values to one trial; raises Pruned when the pruner says so."""

    def __init__(self, trial: optuna.Trial):
        self.trial = trial

    def report(self, step: int, value: float) -> None:
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            raise Pruned(f"trial {self.trial.number} pruned at step {step} (value {value:g})", step=step, value=value)


class Search(Optimizer):
    """Optuna ask/tell over numeric, choice and Json parameters.

    Args:
        parameters: the parameters; Text and Code ones are kept unchanged.
        sampler: ``"tpe"``, ``"cmaes"`` (needs ``cmaes``), ``"gp"``, ``"random"`` or an Optuna sampler.
        seed: the sampler's seed (give each worker of a shared study its own).
        storage: an Optuna storage URL (``sqlite:///study.db``, ``postgresql://...``, a
            ``.log`` journal file path, a ``.db`` SQLite file path) shared by workers; None
            keeps the study in memory.
        study_name: the study's name in the storage (default ``"tracetune"``).
        pruner: ``"median"`` (Optuna's default when None), ``"hyperband"``,
            ``"successive_halving"``, ``"none"`` or an Optuna pruner.
        enqueue_initial: make the first trial of a fresh study the current values.
        objectives: ``{"metric": "maximize" | "minimize", ...}`` (or an
            :class:`~trace_core.Objectives`) read from ``Feedback.metrics``; None: one
            objective, ``Feedback.score`` in ``direction``.
        constraints: ``"metric >= bound"`` / ``"metric <= bound"`` strings or
            ``(metric, op, bound)`` tuples, read from ``Feedback.metrics``.

    Example:
        >>> from trace_core import Feedback, Parameter
        >>> from trace_core.spaces import Float
        >>> x = Parameter(0.5, name="x", space=Float(0.0, 1.0))
        >>> opt = Search([x], sampler="random", seed=0, direction="minimize")
        >>> [u] = opt.propose(k=1)
        >>> opt.observe(u.values, Feedback(score=(u.values["x"] - 0.2) ** 2), update=u)
        >>> len(opt.study.trials)
        1
    """

    needs_trace = False

    def __init__(self, parameters: Iterable[Parameter], sampler: str | optuna.samplers.BaseSampler = "tpe",
                 seed: int | None = None, storage: str | os.PathLike[str] | None = None, study_name: str | None = None, *,
                 pruner: str | optuna.pruners.BasePruner | None = None, enqueue_initial: bool = False,
                 direction: Direction = "maximize", objectives: Mapping[str, str] | Objectives | None = None,
                 constraints: Iterable[Any] = ()):
        try:
            self.objectives = Objectives.of(objectives or {"score": direction}, constraints)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self.multi = objectives is not None
        super().__init__(parameters, direction=self.objectives.senses[0] if self.multi else direction)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.sampler_name = sampler if isinstance(sampler, str) else type(sampler).__name__
        self.seed, self.storage_url, self.enqueue_initial = seed, _storage_url(storage), enqueue_initial
        self.study_name = study_name or "tracetune"
        self._sampler = _sampler(sampler, seed, bool(self.objectives.constraints))
        self._pruner = _pruner(pruner)
        self.specs = {n: _flatten.spec_of(p.space) for n, p in self.by_name.items()}
        self.searched = [n for n, s in self.specs.items() if _flatten.dimensions(s)]
        if not self.searched:
            raise ConfigError(
                f"Search has nothing to search in {sorted(self.by_name)}: it searches Float, Int, Choice and Json "
                "(bounded numbers, choices) parameters; use Evolution for Text and an LLM optimizer for Code")
        self._study: optuna.Study | None = None
        self._pending: dict[str, tuple[int, dict[str, Any]]] = {}  # update id -> (trial number, json values)
        self._trials: dict[int, optuna.Trial] = {}
        self._new: list[dict[str, Any]] = []  # finished trials not yet in a state_dict (in-memory study)
        self._kept_noted = False

    # -- the study ---------------------------------------------------------------------------
    @property
    def study(self) -> optuna.Study:
        """The Optuna study (created or loaded on first use, with the current direction)."""
        if self._study is None:
            self._storage = _open_storage(self.storage_url)
            senses = list(self.objectives.senses) if self.multi else [self.direction]
            self._study = optuna.create_study(storage=self._storage, sampler=self._sampler, pruner=self._pruner,
                                              study_name=self.study_name, directions=senses, load_if_exists=True)
            have = [d.name.lower() + "d" for d in self._study.directions]
            if have != [s + "d" for s in senses]:
                raise ConfigError(f"study {self.study_name!r} in {self.storage_url} is {', '.join(have)}, not "
                                  f"{', '.join(s + 'd' for s in senses)}; use another study_name or the same "
                                  "directions")
            if self.enqueue_initial and not self._study.trials:
                self._study.enqueue_trial(self._flat(self.values())[0], skip_if_exists=True)
        return self._study

    def _flat(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
        params: dict[str, Any] = {}
        dists: dict[str, BaseDistribution] = {}
        for name in self.searched:
            for key, (leaf, dist) in _flatten.flatten(self.specs[name], name, values[name]).items():
                params[key], dists[key] = leaf, dist
        return params, dists

    def _trial(self, number: int) -> optuna.Trial:
        if number not in self._trials:
            study = self.study
            study_id = self._storage.get_study_id_from_name(study.study_name)
            trial_id = self._storage.get_trial_id_from_study_id_trial_number(study_id, number)
            self._trials[number] = optuna.Trial(study, trial_id)
        return self._trials[number]

    # -- the contract -------------------------------------------------------------------------
    def propose(self, propagated: Mapping[Parameter, Any] | None = None, k: int = 1) -> list[Update]:
        self._note_kept()
        current = self.values()
        return [self._ask(current) for _ in range(k)]

    def _ask(self, current: Mapping[str, Any]) -> Update:
        study, error = self.study, None
        for _ in range(_MAX_RESAMPLES):
            trial = study.ask()
            raw = {n: _flatten.sample(self.specs[n], n, current[n], _suggest(trial)) for n in self.searched}
            try:
                update = self.update(raw, reasoning=f"{self.sampler_name} trial {trial.number}",
                                     meta={"trial": trial.number, "study": self.study_name})
            except InvalidProposal as e:  # a model validator refused the combination
                error = e
                study.tell(trial, state=TrialState.FAIL)
                self._told(trial._trial_id)
                continue
            self._trials[trial.number] = trial
            self._pending[update.id] = (trial.number, to_json_values(self.by_name, update.values))
            return update
        raise ConfigError(f"{_MAX_RESAMPLES} samples in a row were refused by the spaces (last: {error}); "
                          "relax the model's validators or the bounds")

    def _note_kept(self) -> None:
        if self._kept_noted:
            return
        self._kept_noted = True
        kept = [f"{n} ({p.space.kind})" for n, p in self.by_name.items() if n not in self.searched]
        kept += [part for n in self.searched for part in _flatten.fixed_parts(self.specs[n], n)]
        if kept:
            log.info("Search keeps these unchanged (Text: use Evolution; Code: an LLM optimizer): %s",
                     "; ".join(kept))

    def observe(self, values: Mapping[str, Any], feedback: Feedback, *, update: Update | None = None) -> None:
        number = self._match(values, update)
        score = self._values(feedback)
        violations = list(self.objectives.violations(feedback.metrics))
        if feedback.details.get("pruned"):
            state, score = TrialState.PRUNED, None
        elif score is None:
            state = TrialState.FAIL
        else:
            state = TrialState.COMPLETE
        if number is not None:
            trial = self._trial(number)
            try:
                if violations and state == TrialState.COMPLETE:
                    self._constrain(trial, violations)
                self.study.tell(trial, score, state=state)
            except (RuntimeError, ValueError) as e:
                log.warning("could not tell trial %d: %s", number, e)
            else:
                self._told(trial._trial_id)
            self._trials.pop(number, None)
            return
        try:
            clean = self.validate({n: values[n] if n in values else self.by_name[n].value for n in self.searched})
        except InvalidProposal as e:
            log.warning("observed values outside the search space are not added to the study: %s", e)
            return
        params, dists = self._flat(clean)
        attrs = {_CONSTRAINTS: violations} if violations and state == TrialState.COMPLETE else {}
        self.study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, values=score, state=state,
                                                       user_attrs=attrs, system_attrs=attrs))  # list: both versions
        if self.storage_url is None:
            self._new.append({"params": params, "values": score, "state": state.name, "user_attrs": attrs,
                              "distributions": {k: distribution_to_json(d) for k, d in dists.items()}})

    def _constrain(self, trial: optuna.Trial, violations: list[float]) -> None:
        trial.set_user_attr(_CONSTRAINTS, violations)
        if _SET_CONSTRAINT:
            for constraint, value in zip(self.objectives.constraints, violations):
                trial.set_constraint(str(constraint), value)

    def _values(self, feedback: Feedback) -> list[float] | None:
        """What is told to the study: the objectives read from the metrics, or the score."""
        if self.multi:
            values = self.objectives.values(feedback.metrics)
            return None if values is None else list(values)
        score = self.score(feedback)
        return None if score is None or math.isnan(score) else [score]

    def _match(self, values: Mapping[str, Any], update: Update | None) -> int | None:
        if update is not None and update.id in self._pending:
            return self._pending.pop(update.id)[0]
        for uid, (number, pending) in self._pending.items():
            if same_values(self.by_name, pending, values):
                del self._pending[uid]
                return number
        return None

    def reporter(self, update: Update) -> _Reporter | None:
        """A reporter for ``update``'s evaluation: ``report(step, value)`` raises ``Pruned``
        when the study's pruner says so (None for an update Search did not propose)."""
        pending = self._pending.get(update.id)
        return None if pending is None else _Reporter(self._trial(pending[0]))

    # -- resume ---------------------------------------------------------------------------------
    def _told(self, trial_id: int) -> None:
        """Keep a finished trial of an in-memory study for the next :meth:`state_dict`."""
        if self.storage_url is None:
            t = self._storage.get_trial(trial_id)
            self._new.append({"params": t.params, "values": t.values, "state": t.state.name,
                              "user_attrs": t.user_attrs, "distributions": {k: distribution_to_json(d) for k, d in t.distributions.items()}})

    def state_dict(self) -> dict[str, Any]:
        """The sampler, the study and the pending trials. With an in-memory study, the trials
        finished since the previous call (``"delta": True``): a step's state costs the same
        at step 10 and step 10,000, and :meth:`load_state_dicts` adds the deltas up."""
        state: dict[str, Any] = {
            "sampler": self.sampler_name, "seed": self.seed, "storage": self.storage_url,
            "study_name": self.study_name, "direction": self.direction,
            "objectives": self.objectives.as_dict() if self.multi else None,
            "pending": {uid: {"trial": n, "values": v} for uid, (n, v) in self._pending.items()},
        }
        if self.storage_url is None:
            state["delta"], state["trials"], self._new = True, self._new, []
        return state

    def load_state_dicts(self, states: Sequence[Mapping[str, Any]]) -> None:
        """Restore from the states of every committed step, oldest first: their trials
        added up (a state without ``"delta"``, as older runs wrote, holds them all)."""
        if not states:
            return
        trials: list[Mapping[str, Any]] = []
        for state in states:
            trials = [*trials, *state.get("trials", [])] if state.get("delta") else list(state.get("trials", []))
        self._load(states[-1], trials)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.load_state_dicts([state])

    def _load(self, state: Mapping[str, Any], trials: Sequence[Mapping[str, Any]]) -> None:
        self.storage_url, self.study_name = state.get("storage"), state.get("study_name", self.study_name)
        self.direction = state.get("direction", self.direction)
        self._study, self._trials, self._pending = None, {}, {}
        for t in trials:
            attrs = t.get("user_attrs", {})
            self.study.add_trial(optuna.trial.create_trial(
                params=t["params"], values=t["values"] if "values" in t else _listed(t["value"]),
                state=TrialState[t["state"]], user_attrs=attrs,
                system_attrs={_CONSTRAINTS: attrs[_CONSTRAINTS]} if _CONSTRAINTS in attrs else {},
                distributions={k: json_to_distribution(d) for k, d in t["distributions"].items()}))
        self._new = []  # loaded trials are saved already
        if self.seed is not None and self.sampler_name in SAMPLERS:  # do not replay the first run's points
            self._sampler = _sampler(self.sampler_name, self.seed + len(self.study.trials),
                                     bool(self.objectives.constraints))
            self.study.sampler = self._sampler
        for uid, p in state.get("pending", {}).items():
            number = p["trial"]
            if self.storage_url is None:  # re-ask the pending trial with its values
                try:
                    values = self.validate({n: p["values"][n] for n in self.searched})
                except (KeyError, InvalidProposal) as e:
                    log.warning("pending trial %s does not fit these parameters and is dropped: %s", number, e)
                    continue
                self.study.enqueue_trial(self._flat(values)[0])
                trial = self.study.ask()
                for n in self.searched:
                    _flatten.sample(self.specs[n], n, values[n], _suggest(trial))
                self._trials[trial.number] = trial
                number = trial.number
            self._pending[uid] = (number, p["values"])


def _listed(value: float | None) -> list[float] | None:
    """A single-objective value as Optuna's ``values`` (states written before several objectives)."""
    return None if value is None else [value]
