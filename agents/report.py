"""Reports of runs: a self-contained HTML file and a text summary for logs.

The HTML (one file, no network: inline SVG, inline CSS and script) shows the score
per step (best so far and every candidate), the cost per step, the trace graph of
the best values, how the parameter values changed over the run, the LLM calls
(prompt and reply, redacted), and how the run compares with the previous run of the
same job. :class:`Comparison` is also what ``--fail-on-regression`` uses.

Example:
    >>> compare(0.9, {"id": "b1", "best_score": 1.0}, "minimize").describe()
    'better than run b1 by 0.1, 10% (1 → 0.9, minimize)'
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents._failures import counts_of, describe_error, failure_counts
from agents._report_text import Comparison, _num, compare, why_stopped, write_atomic
from agents.store import RunStore, open_store
from trace_core.feedback import better
from trace_core.llm.redact import redact_text
from trace_core.budget import usd_of

__all__ = ["RunReport", "Comparison", "compare", "previous_run", "trace_graph", "write_atomic", "why_stopped"]

log = logging.getLogger(__name__)


def previous_run(store: RunStore, run: dict[str, Any]) -> dict[str, Any] | None:
    """The run this one is compared with: the one recorded when it started, else the
    last finished run of the same job created before it."""
    prev_id = (run.get("config") or {}).get("previous_run")
    if prev_id:
        try:
            return store.get_run(prev_id)
        except Exception:  # noqa: BLE001 - deleted since; fall back to the search below
            log.warning("previous run %s of run %s is gone", prev_id, run["id"])
    for other in store.list_runs(job_key=run.get("job_key"), status="finished"):
        if other["id"] != run["id"] and (other.get("created_at") or "") <= (run.get("created_at") or ""):
            return other
    return None


def trace_graph(task: Any, max_nodes: int = 400) -> dict[str, Any] | None:
    """Run ``task`` once on its first example with its live values and return the traced
    graph (node-link JSON), or None when it cannot be traced. For runs whose optimizer
    does not read traces (Search), so the report still shows the workflow."""
    from trace_core import catching, graph

    examples = list(task.train) or list(task.val)
    try:
        with catching():
            out = task.run(examples[0] if examples else None)
        if not hasattr(out, "parents"):
            return None
        g = graph.to_networkx(out)
        return graph.node_link(g) if g.number_of_nodes() <= max_nodes else None
    except Exception:  # noqa: BLE001 - the graph only decorates a report
        log.info("could not trace the task for the report", exc_info=True)
        return None


@dataclass
class RunReport:
    """Everything a report shows about one run, read from the store.

    Example:
        >>> from agents import optimize
        >>> from tasks.examples.numeric import NumericTask
        >>> from trace_core import Budget
        >>> store = RunStore("sqlite://")
        >>> run = optimize(NumericTask(), optimizer="search", budget=Budget(max_steps=2), store=store)
        >>> "score:" in RunReport.load(store, run.run_id).summary()
        True
    """

    run: dict[str, Any]
    steps: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    llm_calls: list[dict[str, Any]]
    previous: dict[str, Any] | None = None
    front: dict[str, Any] | None = None  # a multi-objective run's last front (RunStore.front)
    front_comparison: Comparison | None = None  # ... and its hypervolume against the previous run's

    @classmethod
    def load(cls, store: RunStore | str | None, run_id: str) -> RunReport:
        store = open_store(store)
        run = store.get_run(run_id)
        rid = run["id"]
        from agents._front_report import front_comparison

        previous = previous_run(store, run)
        return cls(run, store.steps(rid), store.candidates(rid), store.llm_calls(rid), previous, store.front(rid),
                   front_comparison(store, run, previous))

    @property
    def direction(self) -> str:
        return self.run.get("direction") or "maximize"

    @property
    def comparison(self) -> Comparison | None:
        if self.front_comparison is not None:
            return self.front_comparison
        return None if self.previous is None else compare(self.run.get("best_score"), self.previous, self.direction)

    @property
    def best_step(self) -> int:
        """The step at which the final best score was first reached."""
        best = self.run.get("best_score")
        for s in self.steps:
            if s.get("incumbent_score") == best:
                return s["step"]
        return self.steps[-1]["step"] if self.steps else 0

    def graph(self) -> tuple[dict[str, Any] | str, int] | None:
        """The trace graph closest to the best values, and the step whose values it traced."""
        traced = []
        for s in self.steps:
            g = s.get("graph")
            if isinstance(g, dict) and "graph" in g:  # traced after the step (see trace_graph)
                traced.append((g.get("after_step", s["step"]), g["graph"]))
                g = g.get("forward")
            if g:  # traced at the start of the step: the values after the previous one
                traced.append((s["step"] - 1, g))
        if not traced:
            return None
        later = [t for t in traced if t[0] >= self.best_step]
        values_step, g = min(later, key=lambda t: t[0]) if later else max(traced, key=lambda t: t[0])
        return g, values_step

    def summary(self) -> str:
        """A few lines for logs: outcome, scores, spending, comparison, best values (redacted)."""
        r = self.run
        spent = r.get("spent") or {}
        lines = [f"run {r['id']}  {r['name']} (task {r.get('task')})  {r['status']}: {why_stopped(r) or '—'}"]
        change = ""
        init, best = r.get("initial_score"), r.get("best_score")
        if init is not None and best is not None and init != best:
            verb = "improved" if better(best, init, self.direction) else "changed"
            pct = f" ({abs(best - init) / abs(init) * 100:.3g}%)" if init else ""
            change = f"; {verb} by {abs(best - init):.4g}{pct}"
        lines.append(f"score: starting values {_num(init)} → best {_num(best)} ({self.direction}{change})")
        metrics = self._metrics_line()
        if metrics:
            lines.append(metrics)
        if self.front is not None:
            lines.append(f"front: {len(self.front['members'])} candidates, hypervolume "
                         f"{_num(self.front['hypervolume'])} (`tracetune show {r['id']}` lists them)")
        tokens = sum(s.get("tokens") or 0 for s in self.steps)
        lines.append(f"steps {max(len(self.steps) - 1, 0)}, evaluations {spent.get('evaluations', 0):g}, "
                     f"LLM calls {len(self.llm_calls)}, tokens {tokens}, cost {usd_of(self.steps)}, "
                     f"{sum(s.get('seconds') or 0.0 for s in self.steps):.1f} s in steps")
        lines += [line for line in self.failure_lines() if line]
        if self.comparison is not None:
            lines.append(f"vs previous: {self.comparison.describe()}")
        warm = (r.get("config") or {}).get("warm_start_from")
        member = (r.get("config") or {}).get("warm_start_member")
        if warm:
            lines.append(f"warm start: from the best values of run {warm}" if not member else
                         f"warm start: from run {warm}'s front, the candidate {member[1]} of step {member[0]}")
        values = r.get("best_values") or {}
        shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
        lines.append(f"best values: {shown or '—'}")
        return redact_text("\n".join(lines))

    def failure_lines(self) -> tuple[str, str]:
        """The failure counts, and the run's first error (its type, message and the user's
        frame; "" when nothing failed)."""
        outcomes, proposals = counts_of(self.candidates)
        return failure_counts(outcomes, proposals), describe_error((self.run.get("config") or {}).get("first_error"))

    def metrics_at(self, step: int, score: float | None) -> dict[str, float]:
        """The metrics of the candidate of ``step`` that scored ``score`` (the values kept then)."""
        for c in self.candidates:
            if c["step"] == step and c.get("score") == score and c.get("score") is not None:
                metrics = (c.get("feedback") or {}).get("metrics") or {}
                return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return {}

    def _metrics_line(self, limit: int = 6) -> str:
        """``metrics: name start → best, ...`` (e.g. the validation accuracy) when the task gives metrics."""
        start = self.metrics_at(0, self.run.get("initial_score"))
        best = self.metrics_at(self.best_step, self.run.get("best_score")) or start
        if not best:
            return ""
        parts = []
        for name in sorted(best)[:limit]:
            before = f"{_num(start[name])} → " if name in start and start[name] != best[name] else ""
            parts.append(f"{name} {before}{_num(best[name])}")
        return "metrics (starting → best): " + ", ".join(parts)

    def designs(self, directory: str | Path | None = None, top: int = 3) -> list[dict[str, Any]]:
        """Pictures (and, with ``directory``, files such as STL/GLB) of the best distinct
        designs, for tasks with ``artifacts(values, directory=, stem=)`` (design3d); else []."""
        spec = (self.run.get("config") or {}).get("task")
        if not spec:
            return []
        try:
            from agents.factory import build_task_from_spec

            draw = getattr(build_task_from_spec(spec), "artifacts", None)
        except Exception:  # noqa: BLE001 - pictures only decorate a report
            log.info("could not rebuild the task to draw its designs", exc_info=True)
            return []
        if not callable(draw):
            return []
        scored = [c for c in self.candidates if c.get("score") is not None and isinstance(c.get("values"), dict)]
        scored.sort(key=lambda c: c["score"], reverse=self.direction == "maximize")
        chosen: dict[str, dict[str, Any]] = {}
        for values in [self.run.get("best_values") or {}, *(c["values"] for c in scored)]:
            if values and len(chosen) < top:
                chosen.setdefault(json.dumps(values, sort_keys=True, default=str), values)
        out = []
        for i, values in enumerate(chosen.values(), 1):
            try:
                out.append(draw(values, directory=directory, stem=f"best{i}"))
            except Exception:  # noqa: BLE001
                log.info("could not draw design %d", i, exc_info=True)
        return out

    def html(self, designs_dir: str | Path | None = None) -> str:
        """The self-contained HTML report (best designs' files go to ``designs_dir``)."""
        from agents._report_html import render

        return render(self, designs_dir)

    def write(self, path: str | Path) -> Path:
        """Write the HTML report to ``path`` (folders are made); returns the path. Tasks
        with designs (design3d) also get their best meshes in ``<stem>-designs/``.

        The file appears whole or not at all: the page is written to a temporary file
        in the same folder and moved into place, so a failure leaves no partial report
        (and an older report at ``path`` stays as it was)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, self.html(path.parent / f"{path.stem}-designs"))
        return path


def _short(value: Any, limit: int = 40) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
