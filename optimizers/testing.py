"""The optimizer contract, as a test suite your package runs on its own optimizer.

Subclass :class:`OptimizerContract` in a test module under a name pytest collects and
say how to build your optimizer; every ``test_*`` method then runs on it::

    from optimizers.testing import OptimizerContract

    class TestHillClimb(OptimizerContract):
        def make_optimizer(self, parameters):
            return HillClimb(parameters, seed=0)

The contract: :meth:`~optimizers.base.Optimizer.propose` returns ``k`` valid updates
without touching the live parameters; an invalid value never reaches a parameter;
two parameters with one name are refused; ``apply`` / ``rollback`` restore the values;
failed, pruned, unscored and foreign evaluations are observed without error; the state
dict survives JSON and the optimizer goes on from it. The parameters cover every kind of
space (Float, Int, Choice, Json, Text); override :meth:`~OptimizerContract.make_parameters`,
:meth:`~OptimizerContract.score` and :meth:`~OptimizerContract.invalid_values` for an
optimizer meant for some of them only.

The suite needs no test runner: pytest (or unittest-style runners) collect the
subclass, and the checks are plain assertions.

Example:
    >>> from optimizers import Search
    >>> class Contract(OptimizerContract):
    ...     def make_optimizer(self, parameters):
    ...         return Search(parameters, sampler="random", seed=0)
    >>> Contract().test_apply_then_rollback_restores()
"""

from __future__ import annotations

import abc
import contextlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from optimizers.base import Optimizer, Update
from trace_core import Feedback, Parameter
from trace_core.errors import ConfigError, InvalidProposal
from trace_core.spaces import Choice, Float, Int, Json, Text

__all__ = ["OptimizerContract", "Arch", "contract_parameters", "raises"]


class Arch(BaseModel):
    """The Json space of the contract's parameters."""

    width: int = Field(8, ge=4, le=32)
    dropout: float = Field(0.1, ge=0.0, le=0.5)
    norm: bool = True


def contract_parameters() -> list[Parameter]:
    """One parameter of each kind of space: ``lr``, ``layers``, ``act``, ``arch``, ``prompt``."""
    return [
        Parameter(0.01, name="lr", space=Float(1e-4, 1.0, log=True)),
        Parameter(2, name="layers", space=Int(1, 6)),
        Parameter("relu", name="act", space=Choice(["relu", "tanh", "gelu"])),
        Parameter(Arch(), name="arch", space=Json(Arch)),
        Parameter("answer the question", name="prompt", space=Text(max_chars=120)),
    ]


@contextlib.contextmanager
def raises(kind: type[BaseException], match: str = "") -> Iterator[None]:
    """Assert that the block raises ``kind`` with a message matching ``match`` (a regex)."""
    try:
        yield
    except kind as e:
        assert re.search(match, str(e)), f"{type(e).__name__} raised, but {str(e)!r} does not match {match!r}"
    else:
        raise AssertionError(f"{kind.__name__} was not raised")


class OptimizerContract(abc.ABC):
    """What every optimizer does; subclasses implement :meth:`make_optimizer`."""

    @abc.abstractmethod
    def make_optimizer(self, parameters: Sequence[Parameter]) -> Optimizer:
        """A fresh optimizer over ``parameters`` (seeded, so two calls make the same one)."""

    def make_parameters(self) -> list[Parameter]:
        """Fresh parameters for one optimizer (default: :func:`contract_parameters`)."""
        return contract_parameters()

    def score(self, values: Mapping[str, Any]) -> float:
        """The score of a full set of values (higher is better) the optimizer is told."""
        arch = values["arch"]
        return (-abs(math.log10(values["lr"]) + 2) - abs(values["layers"] - 3) - arch.dropout
                + (values["act"] == "gelu") + 0.1 * len(set(values["prompt"].split()) & {"briefly", "exact"}))

    def invalid_values(self) -> list[dict[str, Any]]:
        """Values each update must refuse (an unknown name is added to them); the first is
        also observed, and must be ignored."""
        return [{"lr": 5.0, "prompt": "fine"}, {"act": "swish"}, {"arch": {"width": 1000}}, {"prompt": "x" * 500}]

    # -- helpers -------------------------------------------------------------------------
    def _json(self, values: Mapping[str, Any], opt: Optimizer) -> str:
        return json.dumps({n: opt.by_name[n].space.to_json(v) for n, v in values.items()}, sort_keys=True)

    def _rounds(self, opt: Optimizer, rounds: int = 2, k: int = 2) -> None:
        for _ in range(rounds):
            for u in opt.propose(None, k=k):
                values = {**opt.values(), **u.values}
                opt.observe(values, Feedback(score=self.score(values)), update=u)

    # -- the contract ----------------------------------------------------------------------
    def test_propose_returns_k_valid_updates(self) -> None:
        opt = self.make_optimizer(self.make_parameters())
        before = self._json(opt.values(), opt)
        opt.observe(opt.values(), Feedback(score=self.score(opt.values())))
        updates = opt.propose(None, k=3)
        assert len(updates) == 3 and all(isinstance(u, Update) for u in updates), updates
        for u in updates:
            assert set(u.values) <= set(opt.by_name), f"unknown names in {sorted(u.values)}"
            assert self._json(opt.validate(u.values), opt) == self._json(u.values, opt), "an update holds raw values"
        assert self._json(opt.values(), opt) == before, "propose must not touch the live parameters"
        assert any(not u.no_change for u in updates), "every update says 'no change'"
        reporter = opt.reporter(updates[0])
        assert reporter is None or callable(reporter.report)

    def test_apply_then_rollback_restores(self) -> None:
        opt = self.make_optimizer(self.make_parameters())
        before = self._json(opt.values(), opt)
        update = next(u for u in opt.propose(None, k=2) if not u.no_change)
        opt.apply(update)
        after = opt.values()
        assert all(self._json({n: after[n]}, opt) == self._json({n: v}, opt) for n, v in update.values.items())
        assert opt.rollback() is True
        assert self._json(opt.values(), opt) == before
        assert opt.rollback() is False

    def test_invalid_values_never_reach_parameters(self) -> None:
        opt = self.make_optimizer(self.make_parameters())
        before = self._json(opt.values(), opt)
        for bad in [*self.invalid_values(), {"no_such_parameter": 1}]:
            with raises(InvalidProposal):
                opt.apply(Update(bad))
            assert self._json(opt.values(), opt) == before, f"{bad} changed the parameters"

    def test_two_parameters_with_one_name_are_refused(self) -> None:
        params = self.make_parameters()
        params.append(Parameter(params[0].value, name=params[0].name, space=params[0].space))
        with raises(ConfigError, match=re.escape(params[0].name)):
            self.make_optimizer(params)

    def test_state_dict_json_round_trip_then_continue(self) -> None:
        opt = self.make_optimizer(self.make_parameters())
        opt.observe(opt.values(), Feedback(score=self.score(opt.values())))
        self._rounds(opt)
        pending = opt.propose(None, k=1)[0]  # proposed before the save, observed after the resume
        state = json.loads(json.dumps(opt.state_dict()))
        fresh = self.make_optimizer(self.make_parameters())
        fresh.load_state_dict(state)
        assert json.loads(json.dumps(fresh.state_dict())).keys() == state.keys()
        fresh.observe({**fresh.values(), **pending.values}, Feedback(score=1.0), update=pending)
        self._rounds(fresh, rounds=1)
        for u in fresh.propose(None, k=2):
            fresh.validate(u.values)
        json.dumps(fresh.state_dict())

    def test_observe_failures_and_foreign_values(self) -> None:
        opt = self.make_optimizer(self.make_parameters())
        updates = opt.propose(None, k=4)
        values = [{**opt.values(), **u.values} for u in updates]
        opt.observe(values[0], Feedback.failure("the workflow raised ValueError"), update=updates[0])
        opt.observe(values[1], Feedback(score=float("nan")), update=updates[1])
        opt.observe(values[2], Feedback.failure("pruned at step 2", pruned=True), update=updates[2])
        opt.observe(values[3], Feedback(), update=updates[3])  # no score at all
        opt.observe(opt.values(), Feedback(score=0.0))  # values never proposed (the incumbent)
        opt.observe(self.invalid_values()[0], Feedback(score=1.0))  # outside the space: ignored, not raised
        assert len(opt.propose(None, k=2)) == 2

    def test_step_applies_one_valid_update(self) -> None:
        opt = self.make_optimizer(self.make_parameters())
        update = opt.step(None)
        assert self._json({n: opt.values()[n] for n in update.values}, opt) == self._json(update.values, opt)
