"""A multi-objective job as the guide writes it: the task's option, Evolution's objectives."""

from __future__ import annotations

import pytest

from agents import optimize
from agents.jobs import JobError, parse_job
from optimizers import Evolution
from tasks.registry import build_task
from trace_core import Budget

OBJECTIVES = {"drag": "minimize", "cabin_volume": "maximize"}


def test_a_job_with_the_task_option_and_evolutions_objectives_is_valid():
    task = build_task("design3d", multi_objective=True)
    job = parse_job({"name": "front", "task": {"name": "design3d", "options": {"multi_objective": True}},
                     "optimizer": {"name": "evolution", "options": {"objectives": OBJECTIVES,
                                                                    "constraints": list(task.constraints)}}})
    assert job.optimizer.options["objectives"] == OBJECTIVES
    with pytest.raises(JobError, match="multi_objective"):
        parse_job({"name": "x", "task": {"name": "design3d", "options": {"multi_objective": "sometimes"}}})


def test_the_loop_drives_nsga2_evolution_on_a_multi_objective_task():
    task = build_task("design3d", multi_objective=True)
    opt = Evolution(task.parameters(), vocabulary=task.vocabulary, seed=0, population=4, offspring=4,
                    objectives=task.objectives, constraints=task.constraints)
    result = optimize(task, optimizer=opt, budget=Budget(max_steps=3), k=4, store="sqlite://", seed=0)
    assert result.best_score is not None and result.best_score <= result.initial_score  # drag: minimize
    assert len(opt.population) == 4 and opt.population[0]["front"] == 0
    fronts = [i["front"] for i in opt.population]
    assert fronts == sorted(fronts) and all(set(i["objectives"]) == set(OBJECTIVES) for i in opt.population
                                            if i["objectives"] is not None)


def test_a_reference_point_may_go_with_the_multi_objective_task_option():
    task = {"name": "prompt_qa", "options": {"multi_objective": True}}
    job = parse_job({"name": "qa", "task": {**task, "reference_point": [0.0, 500]}})
    assert job.build_task().reference_point == [0.0, 500.0]
    with pytest.raises(JobError, match=r"give 2 numbers, one per objective \(exact_match, prompt_tokens\)"):
        parse_job({"name": "qa", "task": {**task, "reference_point": [0.0]}})
    with pytest.raises(JobError, match="the task has no objectives"):
        parse_job({"name": "qa", "task": {"name": "prompt_qa", "options": {"n_train": 4}, "constraints": ["x <= 1"]}})
