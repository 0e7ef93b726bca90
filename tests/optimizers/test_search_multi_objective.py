"""Search with several objectives and constraints, against Optuna driven directly."""

from __future__ import annotations

import math

import optuna
import pytest

from optimizers import Search
from optimizers.search import constraints_of
from trace_core import ConfigError, Feedback, Parameter
from trace_core.spaces import Float

N = 4


def zdt1(x: list[float]) -> tuple[float, float]:
    g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    return x[0], g * (1 - math.sqrt(x[0] / g))


def _constraints(t: optuna.trial.FrozenTrial) -> list[float]:
    """The violations Optuna's samplers read from a trial (both Optuna 4 and 5 forms)."""
    if hasattr(t, "constraints"):
        return list(t.constraints.values())
    return list(t.system_attrs["constraints"])


def _params() -> list[Parameter]:
    return [Parameter(0.5, name=f"x{i}", space=Float(0.0, 1.0)) for i in range(N)]


def _run_search(sampler: str, seed: int, n: int, constraints=()) -> Search:
    opt = Search(_params(), sampler=sampler, seed=seed, objectives={"f1": "minimize", "f2": "minimize"},
                 constraints=constraints)
    for _ in range(n):
        [u] = opt.propose(k=1)
        f1, f2 = zdt1([u.values[f"x{i}"] for i in range(N)])
        opt.observe(u.values, Feedback(score=f1, metrics={"f1": f1, "f2": f2}), update=u)
    return opt


@pytest.mark.parametrize("sampler", ["nsga2", "nsga3", "tpe", "random"])
def test_same_trials_as_optuna_driven_directly(sampler: str) -> None:
    opt = _run_search(sampler, seed=3, n=30)
    direct_sampler = {
        "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=3),
        "nsga3": lambda: optuna.samplers.NSGAIIISampler(seed=3),
        "tpe": lambda: optuna.samplers.TPESampler(seed=3, multivariate=True, constant_liar=True),
        "random": lambda: optuna.samplers.RandomSampler(seed=3),
    }[sampler]()
    direct = optuna.create_study(directions=["minimize", "minimize"], sampler=direct_sampler)
    direct.optimize(lambda t: zdt1([t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(N)]), n_trials=30)
    assert [t.params for t in opt.study.trials] == [t.params for t in direct.trials]
    assert [t.values for t in opt.study.trials] == [t.values for t in direct.trials]
    assert opt.study.directions == direct.directions


def test_constraints_reach_the_sampler_as_optuna_expects() -> None:
    opt = _run_search("nsga2", seed=0, n=20, constraints=["f1 >= 0.5"])
    for t in opt.study.trials:
        assert t.user_attrs["constraints"] == [pytest.approx(0.5 - t.values[0])]
        assert _constraints(t) == t.user_attrs["constraints"]  # what the sampler reads
    modern = hasattr(optuna.trial.Trial, "set_constraint")  # Optuna >= 5; constraints_func before
    direct = optuna.create_study(directions=["minimize", "minimize"], sampler=optuna.samplers.NSGAIISampler(
        seed=0, constraints_func=None if modern else constraints_of))

    def objective(t: optuna.Trial) -> tuple[float, float]:
        f = zdt1([t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(N)])
        t.set_user_attr("constraints", [0.5 - f[0]])
        if modern:
            t.set_constraint("f1", 0.5 - f[0])
        return f

    direct.optimize(objective, n_trials=20)
    assert [t.params for t in opt.study.trials] == [t.params for t in direct.trials]


def test_missing_objective_metric_fails_the_trial_and_score_is_not_read() -> None:
    opt = Search(_params(), sampler="random", seed=0, objectives={"f1": "minimize", "f2": "maximize"})
    [u] = opt.propose(k=1)
    opt.observe(u.values, Feedback(score=1.0, metrics={"f1": 0.3}), update=u)
    assert opt.study.trials[0].state == optuna.trial.TrialState.FAIL
    [u] = opt.propose(k=1)
    opt.observe(u.values, Feedback(score=None, metrics={"f1": 0.3, "f2": 0.7}), update=u)
    assert opt.study.trials[1].values == [0.3, 0.7]
    assert opt.direction == "minimize"  # the first objective's sense


def test_observed_values_not_proposed_join_the_study_with_their_constraints() -> None:
    opt = Search(_params(), sampler="nsga2", seed=0, objectives={"f1": "minimize", "f2": "minimize"},
                 constraints=[("f2", "<=", 1.0)])
    opt.observe({f"x{i}": 0.1 for i in range(N)}, Feedback(metrics={"f1": 0.1, "f2": 1.5}))
    [t] = opt.study.trials
    assert t.values == [0.1, 1.5] and _constraints(t) == [0.5]


def test_state_round_trip_keeps_every_objective_value() -> None:
    opt = _run_search("tpe", seed=1, n=6, constraints=["f1 <= 0.9"])
    state = opt.state_dict()
    again = Search(_params(), sampler="tpe", seed=1, objectives={"f1": "minimize", "f2": "minimize"},
                   constraints=["f1 <= 0.9"])
    again.load_state_dicts([state])
    assert [t.values for t in again.study.trials] == [t.values for t in opt.study.trials]
    assert [t.user_attrs for t in again.study.trials] == [t.user_attrs for t in opt.study.trials]
    [u] = again.propose(k=1)
    assert set(u.values) == {f"x{i}" for i in range(N)}


def test_bad_objectives_and_constraints_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="maximize"):
        Search(_params(), objectives={"f1": "up"})
    with pytest.raises(ConfigError, match="cabin_volume >= 3.0"):
        Search(_params(), objectives={"f1": "minimize"}, constraints=["f1 ~ 3"])
    with pytest.raises(ConfigError, match="cmaes"):
        Search(_params(), sampler="cmaes", constraints=["f1 <= 3"])


def test_single_objective_with_a_constraint_reads_score_and_metrics() -> None:
    opt = Search(_params(), sampler="tpe", seed=0, direction="minimize", constraints=["f2 <= 2"])
    [u] = opt.propose(k=1)
    opt.observe(u.values, Feedback(score=0.4, metrics={"f2": 3.0}), update=u)
    [t] = opt.study.trials
    assert t.value == 0.4 and t.user_attrs["constraints"] == [1.0]
