"""Objectives, constraints, dominance, the front and its hypervolume."""

from __future__ import annotations

import math

import pytest

from trace_core import Constraint, Objectives, dominates, hypervolume, non_dominated

MIN2 = ("minimize", "minimize")


def test_constraint_grammar_and_tuple_form_agree() -> None:
    assert Constraint.parse("cabin_volume >= 3.0") == Constraint.parse(("cabin_volume", ">=", "3")) \
        == Constraint("cabin_volume", ">=", 3.0)
    c = Constraint.parse(" drag<=0.25 ")
    assert (c.metric, c.op, c.bound) == ("drag", "<=", 0.25)
    assert c.violation({"drag": 0.3}) == pytest.approx(0.05)
    assert c.violation({}) == math.inf and c.violation({"drag": math.nan}) == math.inf
    assert str(c) == "drag <= 0.25"


@pytest.mark.parametrize("bad", ["volume > 3", "volume >= three", "3 >= volume", ("v", "==", 1), ("v", ">=")])
def test_bad_constraints_say_the_form_to_use(bad: object) -> None:
    with pytest.raises(ValueError, match="constraint"):
        Constraint.parse(bad)  # type: ignore[arg-type]


def test_objectives_read_metrics_in_order_and_report_feasibility() -> None:
    obj = Objectives.of({"acc": "maximize", "size": "minimize"}, ["size <= 100", ("acc", ">=", 0.5)])
    assert obj.names == ("acc", "size") and obj.senses == ("maximize", "minimize")
    assert obj.values({"size": 10.0, "acc": 0.7, "other": 1.0}) == (0.7, 10.0)
    assert obj.values({"acc": 0.7}) is None and obj.values({"acc": math.nan, "size": 1.0}) is None
    assert obj.violations({"acc": 0.4, "size": 120.0}) == pytest.approx((20.0, 0.1))
    assert obj.feasible({"acc": 0.5, "size": 100.0}) and not obj.feasible({"acc": 0.9})
    assert obj.as_dict() == {"acc": "maximize", "size": "minimize"}
    with pytest.raises(ValueError, match="maximize"):
        Objectives.of({"acc": "up"})
    with pytest.raises(ValueError, match="empty"):
        Objectives.of({})


def test_dominance_respects_each_sense() -> None:
    assert dominates((1, 1), (2, 2), MIN2) and not dominates((2, 2), (1, 1), MIN2)
    assert not dominates((1, 1), (1, 1), MIN2)  # equal points do not dominate each other
    assert not dominates((1, 3), (2, 2), MIN2)
    assert dominates((0.9, 10), (0.8, 10), ("maximize", "minimize"))
    with pytest.raises(ValueError, match="objectives"):
        dominates((1,), (1, 2), MIN2)


def test_non_dominated_keeps_the_front_in_order() -> None:
    points = [(1, 5), (2, 2), (3, 3), (5, 1), (2, 2), (4, 4)]
    assert non_dominated(points, MIN2) == [0, 1, 3, 4]
    assert non_dominated([], MIN2) == []


def test_hypervolume_matches_hand_computed_boxes() -> None:
    # minimize both: boxes up to (4, 4) from (1, 3), (2, 2), (3, 1): 3*1 + 2*1 + 1*1 + ... = 6
    assert hypervolume([(1, 3), (2, 2), (3, 1)], (4, 4), MIN2) == pytest.approx(6.0)
    # dominated, duplicate and outside points add nothing
    assert hypervolume([(1, 3), (2, 2), (3, 1), (3, 3), (2, 2), (5, 0)], (4, 4), MIN2) == pytest.approx(6.0)
    assert hypervolume([], (4, 4), MIN2) == 0.0
    # maximize is mirrored: acc 0.9 at size 2 against reference (acc 0, size 10) = 0.9 * 8
    assert hypervolume([(0.9, 2.0)], (0.0, 10.0), ("maximize", "minimize")) == pytest.approx(7.2)
    # three objectives: a unit cube corner
    assert hypervolume([(0, 0, 0)], (1, 1, 1), ("minimize",) * 3) == pytest.approx(1.0)


@pytest.mark.parametrize("spec", ["n_params <= 1234567", "x >= 0.123456789", "x <= 1e-09", "x >= -2.5", "x <= 20"])
def test_a_constraint_written_out_parses_back_to_the_same_bound(spec: str) -> None:
    c = Constraint.parse(spec)
    assert Constraint.parse(str(c)) == c
    assert str(Constraint.parse("latency_ms <= 20")) == "latency_ms <= 20"


def test_an_infinite_objective_value_counts_as_missing() -> None:
    obj = Objectives.of({"acc": "maximize", "loss": "minimize"})
    assert obj.values({"acc": 0.9, "loss": math.inf}) is None
    assert obj.values({"acc": -math.inf, "loss": 1.0}) is None
