"""NSGA-II selection: fronts and crowding on hand-made populations, Deb's constraint rule,
and Evolution keeping a front of a toy two-objective text task."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from optimizers import Evolution
from optimizers._nsga import crowding, fronts, order, standings
from trace_core import Feedback, Parameter, non_dominated
from trace_core.errors import ConfigError
from trace_core.llm import ScriptedLLM
from trace_core.spaces import Text

MIN2 = ("minimize", "minimize")


def test_fronts_of_a_hand_made_population():
    points = [(1, 5), (2, 3), (4, 1), (3, 4), (5, 5), (2, 6), (6, 6)]
    assert fronts(points, [0] * 7, MIN2) == [[0, 1, 2], [3, 5], [4], [6]]
    # the same population with the first objective maximized
    assert fronts(points, [0] * 7, ("maximize", "minimize")) == [[2, 4, 6], [1, 3], [0, 5]]


def test_fronts_agree_with_optunas_ranks_on_random_points():
    rank_of = pytest.importorskip("optuna.study._multi_objective")._fast_non_domination_rank
    rng = np.random.default_rng(0)
    for n, m in ((30, 2), (40, 3)):
        points = rng.integers(0, 6, size=(n, m)).astype(float)  # ties and duplicates on purpose
        ours = [0] * n
        for rank, front in enumerate(fronts(points.tolist(), [0] * n, ("minimize",) * m)):
            for i in front:
                ours[i] = rank
        assert ours == rank_of(points).tolist()


def test_crowding_distance_of_a_front():
    d = crowding([(0.0, 4.0), (1.0, 2.0), (3.0, 1.0), (4.0, 0.0)])
    # objective 1: (3-0)/4 and (4-1)/4; objective 2: (4-1)/4 and (2-0)/4
    assert d[0] == d[3] == math.inf and d[1:3] == [pytest.approx(1.5), pytest.approx(1.25)]
    assert crowding([(1.0, 2.0), (2.0, 1.0)]) == [math.inf, math.inf]
    assert crowding([(1.0, 1.0), (1.0, 1.0), (1.0, 1.0)])[1] == 0.0  # no spread: no room


def test_order_fills_by_front_then_by_crowding():
    front = [(0.0, 10.0), (1.0, 9.0), (1.2, 8.8), (5.0, 5.0), (10.0, 0.0)]
    dominated = [(11.0, 11.0)]
    best = order(front + dominated, [0] * 6, MIN2)
    assert best[-1] == 5 and set(best[:2]) == {0, 4}  # extremes first
    assert best[2] == 3 and set(best[3:5]) == {1, 2}  # the lone middle point before the crowded pair


def test_debs_rule_feasible_first_then_smaller_violation_then_failed():
    points = [(9.0, 9.0), (1.0, 1.0), None, (0.0, 0.0), None, (5.0, 5.0)]
    violation = [0.0, 2.0, 1.0, 0.5, 0.0, 0.0]
    # feasible 0 and 5 (5 dominates 0), then infeasible by violation 3 < 2 < 1 (values or not),
    # then the failed one
    assert fronts(points, violation, MIN2) == [[5], [0], [3], [2], [1], [4]]
    assert [s.rank for s in standings(points, violation, MIN2)] == [1, 4, 3, 2, 5, 0]


# -- Evolution ----------------------------------------------------------------------------------
WORDS = ["red", "blue", "green"]


def two_objectives(text: str) -> Feedback:
    """Maximize the reds and the blues; the prompt holds at most 6 words (a constraint)."""
    words = text.split()
    metrics = {"red": float(words.count("red")), "blue": float(words.count("blue")), "words": float(len(words))}
    return Feedback(score=metrics["red"], metrics=metrics)


def evolve(seed: int, generations: int = 15) -> Evolution:
    opt = Evolution([Parameter("green green", name="prompt", space=Text(max_chars=200))], vocabulary=WORDS,
                    seed=seed, population=8, offspring=8, objectives={"red": "maximize", "blue": "maximize"},
                    constraints=["words <= 6"])
    opt.observe({"prompt": "green green"}, two_objectives("green green"))
    for _ in range(generations):
        for u in opt.propose(k=8):
            opt.observe(u.values, two_objectives(u.values["prompt"]), update=u)
    return opt


@pytest.mark.parametrize("seed", [0, 1])
def test_evolution_keeps_a_front_of_a_two_objective_text_task(seed):
    opt = evolve(seed)
    points = [(i["objectives"]["red"], i["objectives"]["blue"]) for i in opt.population]
    assert all(i["violation"] == 0 for i in opt.population)  # feasible ones were there to keep
    front = {points[i] for i in non_dominated(points, ("maximize", "maximize"))}
    assert len(front) >= 3, points  # a spread of trade-offs, not one winner
    assert all(r + b >= 4 for r, b in front), front  # near the true front red + blue = 6
    assert max(r for r, _ in front) >= 5 and max(b for _, b in front) >= 5  # both extremes reached
    assert [i["front"] for i in opt.population] == sorted(i["front"] for i in opt.population)


def test_infeasible_children_lose_to_feasible_ones_and_rank_by_violation():
    opt = Evolution([Parameter("x", name="prompt", space=Text())], population=3, offspring=3, seed=0,
                    objectives={"red": "maximize", "blue": "maximize"}, constraints=["words <= 2"])
    for text in ("red red red red", "red blue", "blue red red"):  # violations 2, 0, 1
        opt.observe({"prompt": text}, two_objectives(text))
    assert [i["values"]["prompt"] for i in opt.population] == ["red blue", "blue red red", "red red red red"]
    for text in ("red", "blue", "green"):
        opt.observe({"prompt": text}, two_objectives(text))
    kept = [i["values"]["prompt"] for i in opt.population]
    assert kept[0] == "red blue" and "red red red red" not in kept and "blue red red" not in kept


def test_a_failure_beyond_a_constraint_is_infeasible_other_failures_are_last():
    opt = Evolution([Parameter("x", name="prompt", space=Text())], population=4, seed=0,
                    objectives={"drag": "minimize", "cabin": "maximize"}, constraints=["length >= 3.5"])
    opt.observe({"prompt": "crash"}, Feedback.failure("the generator crashed"))
    opt.observe({"prompt": "short"}, Feedback.failure("too short", ).model_copy(
        update={"metrics": {"drag": 100.0, "cabin": 3.0, "length": 3.0}}))
    opt.observe({"prompt": "ok"}, Feedback(score=500.0, metrics={"drag": 500.0, "cabin": 2.0, "length": 4.0}))
    opt.observe({"prompt": "no length"}, Feedback(score=1.0, metrics={"drag": 1.0, "cabin": 9.0}))
    assert [i["values"]["prompt"] for i in opt.population] == ["ok", "short", "crash", "no length"]
    assert opt.population[1]["violation"] == pytest.approx(0.5)
    assert opt.population[3]["objectives"] is None  # a missing constraint metric: failed


def test_single_objective_selection_is_unchanged_and_keeps_no_objective_fields():
    opt = Evolution([Parameter("a", name="prompt", space=Text())], population=2, offspring=2, seed=0)
    for text, score in [("a", 1.0), ("b", 3.0), ("c", 2.0), ("d", 0.5)]:
        opt.observe({"prompt": text}, Feedback(score=score, metrics={"other": -score}))
    assert [i["values"]["prompt"] for i in opt.population] == ["b", "c"]
    assert all(set(i) == {"values", "score", "feedback"} for i in opt.population)


def test_one_objective_with_a_constraint_puts_feasible_first():
    opt = Evolution([Parameter("a", name="prompt", space=Text())], population=3, seed=0, direction="maximize",
                    constraints=["size <= 10"])
    opt.observe({"prompt": "big"}, Feedback(score=9.0, metrics={"size": 20.0}))
    opt.observe({"prompt": "small"}, Feedback(score=1.0, metrics={"size": 5.0}))
    opt.observe({"prompt": "mid"}, Feedback(score=2.0, metrics={"size": 8.0}))
    assert [i["values"]["prompt"] for i in opt.population] == ["mid", "small", "big"]


def test_objectives_and_constraints_are_checked():
    p = Parameter("a", name="prompt", space=Text())
    with pytest.raises(ConfigError, match="'maximize' or 'minimize'"):
        Evolution([p], objectives={"acc": "up"})
    with pytest.raises(ConfigError, match="cabin_volume >= 3.0"):
        Evolution([p], objectives={"acc": "maximize"}, constraints=["cabin volume is large"])
    assert Evolution([p], objectives={"n": "minimize", "acc": "maximize"}).direction == "minimize"


def test_population_resumes_with_its_fronts():
    opt = evolve(0, generations=3)
    again = Evolution([Parameter("green green", name="prompt", space=Text(max_chars=200))], vocabulary=WORDS,
                      seed=5, population=8, offspring=8, objectives={"red": "maximize", "blue": "maximize"},
                      constraints=["words <= 6"])
    again.load_state_dict(opt.state_dict())
    assert again.population == opt.population and again.children == opt.children
    assert again.propose(k=2)[0].values == opt.propose(k=2)[0].values


def test_the_llm_operator_sees_each_parents_objectives_and_the_trade_off():
    seen = []

    def reply(messages):
        seen.append(messages[-1]["content"])
        return '{"reasoning": "more red", "suggestion": {"prompt": "red red blue"}}'

    opt = Evolution([Parameter("red", name="prompt", space=Text())], llm=ScriptedLLM(reply), seed=0,
                    population=2, objectives={"red": "maximize", "blue": "maximize"}, constraints=["words <= 6"],
                    objective="Colour the prompt.")
    opt.observe({"prompt": "red"}, two_objectives("red"))
    opt.observe({"prompt": "blue blue"}, two_objectives("blue blue"))
    [u] = opt.propose(k=1)
    assert u.values == {"prompt": "red red blue"} and u.meta["operator"].startswith("llm")
    text = seen[0]
    assert "Colour the prompt." in text and "Objectives: maximize red, maximize blue; respect words <= 6." in text
    assert "red 1, blue 0, front 1" in text or "red 0, blue 2, front 1" in text
    assert "red 1, blue 0, front 1" in u.reasoning or "red 0, blue 2, front 1" in u.reasoning


def test_the_population_holds_the_front_of_everything_observed():
    """With NSGA-II selection alone (random children), every distinct point of the front of
    all feasible observations is kept."""
    rng = random.Random(0)
    opt = Evolution([Parameter("x", name="prompt", space=Text())], population=8, offspring=8, seed=0,
                    objectives={"red": "maximize", "blue": "maximize"}, constraints=["words <= 6"])
    seen = []
    for _ in range(200):
        text = " ".join(rng.choice(["red", "blue"]) for _ in range(rng.randint(1, 8)))
        fb = two_objectives(text)
        opt.observe({"prompt": text}, fb)
        if fb.metrics["words"] <= 6:
            seen.append((fb.metrics["red"], fb.metrics["blue"]))
    front = {seen[i] for i in non_dominated(seen, ("maximize", "maximize"))}
    kept = {(i["objectives"]["red"], i["objectives"]["blue"]) for i in opt.population}
    assert 3 <= len(front) <= 8 and front <= kept, (front, kept)
