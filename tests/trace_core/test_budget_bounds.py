"""Budget at its boundaries: empty charges, exactly-at-the-limit checks, the summary line."""

from __future__ import annotations

import pytest

from trace_core import Budget, BudgetExceeded

AMOUNTS = ["steps", "evaluations", "tokens", "usd", "calls"]


@pytest.mark.parametrize("kind", AMOUNTS)
def test_charging_nothing_spends_nothing(kind):
    b = Budget()
    b.charge(**{kind: None})
    b.charge(**{kind: 0})
    assert b.spent[kind] == 0


def test_seconds_cannot_be_charged_only_restored():
    b = Budget()
    with pytest.raises(ValueError, match="unknown budget amount 'seconds'"):
        b.charge(seconds=1)
    b.restore({"seconds": 3})
    assert b.spent["seconds"] == 3


@pytest.mark.parametrize(
    ("limit", "kind", "cap"),
    [
        ("max_steps", "steps", 3),
        ("max_evaluations", "evaluations", 4),
        ("max_tokens", "tokens", 100),
        ("max_usd", "usd", 0.5),
        ("max_calls", "calls", 2),
    ],
)
def test_every_limit_is_reached_exactly_at_its_cap(limit, kind, cap):
    b = Budget(**{limit: cap})
    b.charge(**{kind: cap * 0.5})
    assert b.exhausted() is None and b.remaining(limit) == pytest.approx(cap * 0.5)
    b.charge(**{kind: cap * 0.5})
    assert b.exhausted() == limit
    assert b.remaining(limit) == 0


@pytest.mark.parametrize(("limit", "kind"), [("max_tokens", "tokens"), ("max_usd", "usd"), ("max_calls", "calls")])
def test_check_at_the_cap_allows_nothing_more_and_a_plain_check_passes(limit, kind):
    b = Budget(**{limit: 10})
    b.charge(**{kind: 10})
    b.check()  # nothing more asked for: at the cap is not past it
    with pytest.raises(BudgetExceeded) as info:
        b.check(**{kind: 1})
    assert info.value.limit == limit
    cap = "10.0" if limit == "max_usd" else "10"
    assert f"budget {limit}={cap} would be exceeded (spent 10, this needs 1)" in str(info.value)


def test_check_reports_the_first_limit_that_would_be_passed():
    b = Budget(max_calls=1, max_tokens=10, max_usd=1.0)
    with pytest.raises(BudgetExceeded) as info:
        b.check(calls=2, tokens=20, usd=2)
    assert info.value.limit == "max_calls"
    with pytest.raises(BudgetExceeded) as info:
        b.check(tokens=20, usd=2)
    assert info.value.limit == "max_tokens"


def test_wall_clock_limit_is_reached_exactly_at_its_cap():
    b = Budget(max_seconds=5)
    b.restore({"seconds": 4})
    b.check()
    assert b.exhausted() is None and b.remaining("max_seconds") == 1
    b.restore({"seconds": 5})
    assert b.exhausted() == "max_seconds"
    with pytest.raises(BudgetExceeded) as info:
        b.check()
    assert info.value.limit == "max_seconds"
    assert str(info.value) == "budget max_seconds=5.0 reached"


def test_a_zero_limit_is_a_limit_not_unlimited():
    b = Budget(max_steps=0)
    assert b.exhausted() == "max_steps" and b.remaining("max_steps") == 0


def test_describe_lists_limits_and_amounts_spent_in_order():
    b = Budget(max_tokens=100, max_usd=0.25)
    b.charge(tokens=40, calls=2)
    assert b.describe() == "tokens 40/100, usd 0/0.25, calls 2/∞"


def test_restore_overwrites_rather_than_adds():
    b = Budget(max_calls=10)
    b.charge(calls=3)
    b.restore({"calls": 5})
    assert b.spent["calls"] == 5
    b.restore({"calls": "2"})
    assert b.spent["calls"] == 2.0 and isinstance(b.spent["calls"], float)
