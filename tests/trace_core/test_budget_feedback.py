"""Budget (one record for every limit) and Feedback (coercion, failures, direction)."""

from __future__ import annotations

import math
import threading
import time

import pytest
from pydantic import ValidationError

from trace_core import Budget, BudgetExceeded, Feedback, TraceTuneError, as_feedback, better


def test_budget_without_limits_is_never_exhausted():
    b = Budget()
    b.charge(tokens=10**9, usd=1e6, calls=10**6, steps=10**6, evaluations=10**6)
    assert b.exhausted() is None
    b.check(tokens=10**9)
    assert b.remaining("max_tokens") is None
    assert b.describe().startswith("steps 1e+06/∞")
    assert Budget().describe() == "no limits"


def test_budget_charges_and_reports_the_first_limit_reached():
    b = Budget(max_calls=3, max_tokens=100, max_usd=0.5)
    b.charge(calls=2, tokens=60, usd=0.1)
    assert b.spent["calls"] == 2 and b.spent["tokens"] == 60
    assert b.remaining("max_tokens") == 40 and b.remaining("max_calls") == 1
    assert b.exhausted() is None
    b.charge(tokens=40)
    assert b.exhausted() == "max_tokens"


def test_check_refuses_a_call_that_would_pass_a_limit_before_it_is_sent():
    b = Budget(max_calls=1, max_usd=1.0)
    b.check(calls=1, usd=1.0)  # reaching a limit exactly is allowed
    b.charge(calls=1)
    with pytest.raises(BudgetExceeded) as info:
        b.check(calls=1)
    assert info.value.limit == "max_calls" and "raise max_calls" in str(info.value)
    assert isinstance(info.value, TraceTuneError)
    with pytest.raises(BudgetExceeded, match="max_usd"):
        Budget(max_usd=0.01).check(usd=0.02)


def test_wall_clock_limit_starts_with_start():
    b = Budget(max_seconds=0.01)
    b.check()  # not started: no time spent
    b.start()
    time.sleep(0.02)
    assert b.exhausted() == "max_seconds"
    with pytest.raises(BudgetExceeded) as info:
        b.check()
    assert info.value.limit == "max_seconds"


def test_restore_and_unknown_amounts():
    b = Budget(max_steps=10)
    b.restore({"steps": 4, "seconds": 100, "unknown": 1})
    assert b.spent["steps"] == 4 and b.remaining("max_steps") == 6 and b.spent["seconds"] == 100
    with pytest.raises(ValueError, match="unknown budget amount 'dollars'"):
        b.charge(dollars=1)


def test_budget_limits_are_validated():
    with pytest.raises(ValidationError):
        Budget(max_tokens=-1)
    b = Budget()
    with pytest.raises(ValidationError):
        b.max_calls = -5
    assert Budget.model_validate({"max_usd": "2.5"}).max_usd == 2.5


def test_budget_charges_from_many_threads_are_not_lost():
    b = Budget(max_calls=10**6)

    def spend():
        for _ in range(500):
            b.charge(calls=1, tokens=2)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b.spent["calls"] == 4000 and b.spent["tokens"] == 8000


@pytest.mark.parametrize(
    "value,score,text",
    [("too long", None, "too long"), (0.75, 0.75, ""), (3, 3.0, ""), (True, 1.0, "True"), (None, None, "")],
)
def test_plain_values_become_feedback(value, score, text):
    fb = as_feedback(value)
    assert isinstance(fb, Feedback) and fb.score == score and fb.text == text


def test_feedback_from_dicts_and_records():
    fb = Feedback(score=0.5, metrics={"acc": 0.9}, text="ok", details={"n": 3})
    assert as_feedback(fb) is fb
    assert as_feedback({"score": 1, "metrics": {"loss": 2}}).metrics == {"loss": 2.0}
    with pytest.raises(ValidationError):
        as_feedback({"score": "high"})
    with pytest.raises(ValidationError):
        fb.score = 1.0  # frozen
    assert as_feedback(ValueError("boom")).text == "boom"


def test_failure_feedback_has_no_score():
    fb = Feedback.failure("timed out", example=7)
    assert fb.failed and fb.score is None and fb.text == "timed out" and fb.details["example"] == 7
    assert not Feedback(score=1.0).failed


@pytest.mark.parametrize(
    "a,b,direction,expected",
    [
        (2.0, 1.0, "maximize", True),
        (2.0, 1.0, "minimize", False),
        (1.0, 1.0, "maximize", False),
        (None, 1.0, "maximize", False),
        (1.0, None, "minimize", True),
        (math.nan, 1.0, "maximize", False),
        (-5.0, math.nan, "maximize", True),
    ],
)
def test_better_follows_the_direction_and_ranks_missing_scores_last(a, b, direction, expected):
    assert better(a, b, direction) is expected


def test_a_budget_deep_copies_and_pickles_with_what_was_spent():
    import copy
    import pickle

    b = Budget(max_calls=5)
    b.charge(calls=2)
    for clone in (copy.deepcopy(b), b.model_copy(deep=True), pickle.loads(pickle.dumps(b))):
        clone.charge(calls=1)
        assert clone.spent["calls"] == 3 and clone.max_calls == 5
    assert b.spent["calls"] == 2  # the copies are independent


def test_numpy_and_torch_scalars_become_scores():
    import numpy as np
    import torch

    from trace_core.feedback import as_feedback

    assert as_feedback(np.float32(0.5)).score == 0.5
    assert as_feedback(np.int64(3)).score == 3.0
    assert as_feedback(torch.tensor(0.25)).score == 0.25
    assert as_feedback(np.array([1.0, 2.0])).score is None  # not a scalar: shown as text
