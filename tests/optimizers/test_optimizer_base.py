"""The optimizer contract tested directly on a minimal optimizer: what an Update counts,
how values are checked (each refusal names the parameter), all-or-nothing apply with
rollback, and the default state hooks."""

from __future__ import annotations

import pytest

from optimizers.base import LLMCall, Optimizer, ProposalFailure, Update
from trace_core import Feedback, Parameter
from trace_core.errors import InvalidProposal
from trace_core.spaces import Float, Int


class Fixed(Optimizer):
    """Proposes the values it was given."""

    def __init__(self, parameters, proposal=None, **kw):
        super().__init__(parameters, **kw)
        self.proposal = proposal or {}
        self.loaded = []
        self.asked = []  # the k of each propose call

    def propose(self, propagated=None, k=None):
        self.asked.append(k)
        return [self.update(self.proposal, reasoning="fixed") for _ in range(k or 2)]

    def load_state_dict(self, state):
        self.loaded.append(dict(state))


def _params():
    return [Parameter(1, name="k", space=Int(1, 9)), Parameter(0.5, name="lr", space=Float(0.0, 1.0))]


def test_an_update_counts_its_tokens_and_cost():
    calls = (LLMCall("m", prompt_tokens=10, completion_tokens=5, cost_usd=0.25),
             LLMCall("m", prompt_tokens=1, completion_tokens=2, cost_usd=0.5))
    u = Update({"k": 2}, llm_calls=calls)
    assert u.tokens == 18 and u.cost_usd == pytest.approx(0.75) and not u.no_change
    assert Update({}).no_change and Update({}).cost_usd == 0.0 and Update({}).tokens == 0


def test_an_unknown_price_makes_the_cost_unknown_unless_the_call_was_cached():
    unknown = LLMCall("m", prompt_tokens=3)
    assert Update({}, llm_calls=(unknown,)).cost_usd is None
    cached = LLMCall("m", prompt_tokens=3, cached=True)
    priced = LLMCall("m", cost_usd=0.5)
    assert Update({}, llm_calls=(cached, priced)).cost_usd == 0.5


def test_updates_get_distinct_ids_and_compare_without_the_checked_flag():
    a, b = Update({"k": 2}), Update({"k": 2})
    assert a.id != b.id and len(a.id) == 12
    assert Update({"k": 2}, id="x") == Update({"k": 2}, id="x", checked=True)
    assert ProposalFailure("llm", "down").kind == "llm"


def test_an_optimizer_needs_parameters_and_holds_them_by_name():
    with pytest.raises(ValueError, match="an optimizer needs at least one Parameter"):
        Fixed([])
    opt = Fixed(_params(), direction="minimize")
    assert list(opt.by_name) == ["k", "lr"] and opt.direction == "minimize"
    assert opt.values() == {"k": 1, "lr": 0.5}
    assert Fixed(_params()).direction == "maximize"


def test_validate_names_an_unknown_parameter_and_a_value_out_of_its_space():
    opt = Fixed(_params())
    with pytest.raises(InvalidProposal) as e:
        opt.validate({"depth": 3})
    assert str(e.value) == "unknown parameter 'depth'; the parameters are ['k', 'lr']"
    assert e.value.parameter == "depth"
    with pytest.raises(InvalidProposal) as e:
        opt.validate({"k": 2, "lr": 7.0})
    assert str(e.value).startswith("lr: ") and e.value.parameter == "lr" and e.value.value == 7.0
    assert opt.validate({"k": "3"}) == {"k": 3}


def test_update_checks_once_and_apply_writes_all_or_nothing():
    opt = Fixed(_params(), proposal={"k": 4, "lr": 0.25})
    update = opt.step()
    assert update.checked is True and update.reasoning == "fixed" and opt.values() == {"k": 4, "lr": 0.25}
    assert opt.asked == [1]  # step asks for exactly one proposal
    other = opt.update({"k": 2}, id="abc", meta={"trial": 3})
    assert (other.id, other.meta, other.values) == ("abc", {"trial": 3}, {"k": 2})
    with pytest.raises(InvalidProposal):
        opt.apply(Update({"k": 5, "lr": 3.0}))  # made by hand: validated, nothing assigned
    assert opt.values() == {"k": 4, "lr": 0.25}
    with pytest.raises(InvalidProposal) as e:
        opt.apply(Update({"k": 5, "depth": 2}, checked=True))
    assert str(e.value) == ("the update names ['depth'], which this optimizer does not hold; its parameters "
                            "are ['k', 'lr']")
    assert e.value.parameter == "depth" and opt.values() == {"k": 4, "lr": 0.25}


def test_rollback_undoes_each_apply_in_turn():
    opt = Fixed(_params())
    opt.apply(opt.update({"k": 2}))
    opt.apply(opt.update({"k": 3, "lr": 0.75}))
    assert opt.rollback() is True and opt.values() == {"k": 2, "lr": 0.5}
    assert opt.rollback() is True and opt.values() == {"k": 1, "lr": 0.5}
    assert opt.rollback() is False and opt.values() == {"k": 1, "lr": 0.5}


def test_the_default_hooks():
    opt = Fixed(_params())
    assert opt.needs_trace is True and opt.state_is_delta is False
    assert opt.state_dict() == {} and opt.reporter(Update({})) is None
    opt.observe({"k": 1}, Feedback(score=1.0))
    opt.load_state_dicts([{"a": 1}, {"a": 2}])
    opt.load_state_dicts([])
    assert opt.loaded == [{"a": 2}]
    assert Optimizer.score(Feedback(score=0.5)) == 0.5 and Optimizer.score(Feedback(score=float("nan"))) is None
