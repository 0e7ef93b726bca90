"""Trade-off questions about a run's candidates: "the cheapest candidate within 1 % of the best accuracy".

:func:`best_within` finds the best value of one metric over the run's evaluated candidates,
keeps the candidates within a tolerance of it (relative, 1 % by default, or absolute), and
among those picks the best on a second metric. Metrics are read from the stored feedback
(``score`` is the candidate's score); which way is better comes from the argument, else
from the run's objectives (:func:`agents._report_front.run_objectives`), else from the
run's direction for ``score``; the second metric is minimized unless said otherwise.
Candidates that failed, lack a metric or break a constraint of the run are left out.
Ties go to the earliest candidate, so the answer is the same every time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from agents._report_front import run_objectives
from agents.chat import _format as fmt
from agents.chat._args import Args
from agents.chat.control import RunControl
from trace_core.errors import ConfigError

__all__ = ["BestWithin", "best_within"]

_OTHERS = 5  # other candidates within the tolerance listed after the pick

Sense = Literal["maximize", "minimize"]


class BestWithin(Args):
    near_best: str = Field(min_length=1, description="the metric to stay near the best of (e.g. val_acc, or score)")
    then: str = Field(min_length=1, description="among those, the metric to optimize (e.g. n_params, latency_ms)")
    tolerance: float = Field(0.01, ge=0, le=10, description="how far from the best near_best may be, as a fraction "
                                                            "of the best (0.01 = 1 %)")
    absolute: bool = Field(False, description="true: tolerance is in near_best's own units, not a fraction")
    near_best_direction: Sense | None = Field(None, description="whether higher or lower near_best is better "
                                                                "(default: the run's objectives or direction)")
    then_direction: Sense | None = Field(None, description="whether higher or lower `then` is better (default: "
                                                           "the run's objectives, else minimize: the cheapest)")


def _metrics(c: Mapping[str, Any]) -> dict[str, float]:
    raw = (c.get("feedback") or {}).get("metrics") or {}
    out = {k: float(v) for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if c.get("score") is not None:
        out.setdefault("score", float(c["score"]))
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _sense(metric: str, given: Sense | None, run: Mapping[str, Any], default: Sense | None) -> tuple[Sense, str]:
    """Which way ``metric`` is better, and where that came from (said in the answer)."""
    if given:
        return given, "as asked"
    objectives = run_objectives(run)
    if objectives is not None and metric in objectives.names:
        return objectives.senses[objectives.names.index(metric)], "an objective of the run"
    if metric == "score":
        return run.get("direction") or "maximize", "the run's direction"
    if default is None:
        raise ConfigError(f"say whether higher or lower {metric} is better: pass near_best_direction='maximize' "
                          "or 'minimize' (it is not an objective of this run)")
    return default, "by default"


def _line(c: Mapping[str, Any], metrics: Mapping[str, float], a: str, b: str) -> str:
    values = ", ".join(f"{k}={fmt.value(v, 60)}" for k, v in (c.get("values") or {}).items())
    return (f"step {c['step']} candidate {c['idx']}: {a} {fmt.num(metrics[a])}, {b} {fmt.num(metrics[b])}; "
            f"values {fmt.cut(values, 300)}")


def best_within(control: RunControl, a: BestWithin) -> str:
    """The answer of the ``best_within`` tool for the session's run."""
    run_id = control.run_id
    if not run_id:
        raise ConfigError("no run is selected: start one with start_run, or pick one with use_run")
    run = control.store.get_run(run_id)
    near, near_how = _sense(a.near_best, a.near_best_direction, run, None)
    then, then_how = _sense(a.then, a.then_direction, run, "minimize")
    objectives = run_objectives(run)
    scored, left_out = [], 0
    for c in control.store.candidates(run_id):
        m = _metrics(c)
        if c.get("status") not in (None, "done") or a.near_best not in m or a.then not in m:
            continue
        if objectives is not None and not objectives.feasible(m):
            left_out += 1
            continue
        scored.append((c, m))
    if not scored:
        names = sorted({k for c in control.store.candidates(run_id) for k in _metrics(c)})
        return (f"No evaluated candidate of run {run_id} has both {a.near_best} and {a.then}"
                f"{' (that meets the constraints)' if left_out else ''}. The metrics found: "
                f"{', '.join(names) or 'none'}.")
    sign = 1.0 if near == "maximize" else -1.0
    best_c, best_m = max(scored, key=lambda cm: sign * cm[1][a.near_best])  # max keeps the earliest of ties
    best = best_m[a.near_best]
    slack = a.tolerance if a.absolute else a.tolerance * abs(best)
    bound = best - slack if near == "maximize" else best + slack
    close = [(c, m) for c, m in scored if sign * (m[a.near_best] - bound) >= -1e-12 * max(1.0, abs(bound))]
    tsign = 1.0 if then == "maximize" else -1.0
    pick_c, pick_m = max(close, key=lambda cm: tsign * cm[1][a.then])
    within = f"{fmt.num(slack)}" if a.absolute else f"{a.tolerance * 100:g} % ({fmt.num(slack)})"
    word = "highest" if then == "maximize" else "lowest"
    lines = [f"Run {run_id}: the best {a.near_best} ({near}, {near_how}) is {fmt.num(best)} at "
             f"{_line(best_c, best_m, a.near_best, a.then)}.",
             f"{len(close)} of {len(scored)} candidates are within {within} of it ({a.near_best} "
             f"{'>=' if near == 'maximize' else '<='} {fmt.num(bound)}); the {word} {a.then} ({then}, {then_how}) "
             f"among them: {_line(pick_c, pick_m, a.near_best, a.then)}."]
    others = sorted((cm for cm in close if cm[0] is not pick_c), key=lambda cm: -tsign * cm[1][a.then])[:_OTHERS]
    if others:
        lines.append("Next within the tolerance, best first on " + a.then + ":")
        lines += [f"- {_line(c, m, a.near_best, a.then)}" for c, m in others]
    if left_out:
        lines.append(f"({left_out} candidate(s) that break a constraint of the run were left out.)")
    return "\n".join(lines)
