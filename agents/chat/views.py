"""What the chat tools show: tasks, runs, parameters, steps, costs; and the exports
(best values as JSON, the HTML report). Read from the same store the CLI reads."""

from __future__ import annotations

import inspect
import json
from typing import Any

from agents.chat import _format as fmt
from agents.chat.control import RunControl
from trace_core.llm.redact import redact
from trace_core.budget import usd_of

__all__ = ["list_tasks", "list_runs", "describe_parameters", "show_run", "show_step", "show_costs", "export_best",
           "render_report"]


def list_tasks(name: str | None) -> str:
    from tasks.registry import build_task, task_class, task_names

    if name is None:
        lines = ["Registered tasks (list_tasks with a name shows a task's parameters and options):"]
        for n in task_names():
            try:
                cls = task_class(n)
                lines.append(f"- {n} ({getattr(cls, 'direction', '?')}): {getattr(cls, 'description', '') or '—'}")
            except Exception as e:  # noqa: BLE001 - one broken task must not hide the others
                lines.append(f"- {n}: cannot be loaded ({type(e).__name__}: {e})")
        return "\n".join(lines)
    cls = task_class(name)
    options = [f"{p.name}={p.default!r}" for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
               if p.default is not inspect.Parameter.empty]
    task = build_task(name)
    lines = [f"{name} ({task.direction}): {task.description}",
             f"options (start_run options=...): {', '.join(options) or 'none'}", "parameters:"]
    lines += [f"- {p.name}: {p.space.describe()} = {fmt.value(p.value, 300)}" for p in task.parameters()]
    return "\n".join(lines)


def list_runs(control: RunControl, limit: int, task: str | None) -> str:
    from agents.report import why_stopped

    runs = [r for r in control.store.list_runs(limit=200) if task is None or r.get("task") == task][:limit]
    if not runs:
        return f"No runs{f' of task {task}' if task else ''} in {control.store.safe_url}; start one with start_run."
    lines = [f"Runs in {control.store.safe_url}, newest first (* = this session's run):"]
    for r in runs:
        mark = "*" if r["id"] == control.run_id else " "
        why = f" ({why_stopped(r)})" if why_stopped(r) else ""
        lines.append(f"{mark} {r['id']}  {r['name']} (task {r.get('task')}, {r.get('direction')}): {r['status']}{why}; score "
                     f"{fmt.num(r.get('initial_score'))} → {fmt.num(r.get('best_score'))}; created "
                     f"{(r.get('created_at') or '')[:19]}")
    return "\n".join(lines)


def describe_parameters(control: RunControl) -> str:
    run = control.run()
    task = run.task
    lines = [f"Run {run.run_id}: task {getattr(task, 'name', '?')} ({run.direction}), optimizer "
             f"{type(run.opt).__name__}; {run.step} step(s) committed, best so far {fmt.num(run.incumbent_score)} "
             f"(started at {fmt.num(run.initial_score)}).",
             f"Task: {getattr(task, 'description', '') or '—'}", "Parameters (name: space — description; current value):"]
    for name, p in run.opt.by_name.items():
        lines.append(f"- {name}: {p.space.describe()}" + (f" — {p.description}" if p.description else ""))
        lines.append(f"  current value: {fmt.value(p.value, 3000)}")
    last = control.store.last_step(run.run_id) or {}
    feedback = last.get("train_feedback") or []
    if feedback:
        lines.append(f"Feedback the optimizer saw at step {last.get('step')} ({len(feedback)} example(s)):")
        lines += ["  " + fmt.feedback_line(fb, 300) for fb in feedback[:3]]
    cands = [c for c in control.store.candidates(run.run_id, last.get("step")) if c.get("feedback")]
    if cands:
        verdict = "starting values" if not last.get("step") else "accepted" if last.get("accepted") else "not accepted"
        lines.append(f"Evaluation at step {last.get('step')} ({verdict}): " + fmt.feedback_line(cands[0]["feedback"]))
    lines += _last_graph(control, run.run_id)
    return "\n".join(lines)


def _last_graph(control: RunControl, run_id: str) -> list[str]:
    from agents._cli_run import attach_graph

    attach_graph(control.store, run_id, control.run().task)  # Search reads no traces: trace the live values once
    for row in reversed(control.store.steps(run_id)):
        lines = fmt.graph_summary(row.get("graph"))
        if lines:
            return [f"Last trace (step {row['step']}):", *lines]
    return ["No trace recorded (the workflow could not be traced)."]


def show_run(control: RunControl) -> str:
    from agents.report import RunReport

    run_id = control.run().run_id
    rep = RunReport.load(control.store, run_id)
    lines = [rep.summary(), "steps (step: best so far | best candidate | accepted | what happened):"]
    cands: dict[int, list[dict[str, Any]]] = {}
    for c in rep.candidates:
        cands.setdefault(c["step"], []).append(c)
    for s in rep.steps[-30:]:
        first = (cands.get(s["step"]) or [{}])[0]
        what = " ".join(str(first.get("reasoning") or "").split())
        lines.append(f"  {s['step']}: {fmt.num(s.get('incumbent_score'))} | {fmt.num(s.get('best_candidate_score'))}"
                     f" | {'yes' if s.get('accepted') else 'no'} | {fmt.cut(what, 80)}")
    if len(rep.steps) > 30:
        lines.append(f"  (the first {len(rep.steps) - 30} steps are left out; show_step shows any step)")
    return "\n".join(lines)


def show_step(control: RunControl, step: int | None) -> str:
    run_id = control.run().run_id
    rows = control.store.steps(run_id)
    if step is None:
        step = rows[-1]["step"]
    found = [i for i, r in enumerate(rows) if r["step"] == step]
    if not found:
        raise _no_step(run_id, step, rows)
    row = rows[found[0]]
    prev = rows[found[0] - 1] if found[0] > 0 else None
    lines = [f"Step {step} of run {run_id}: best so far {fmt.num(prev and prev.get('incumbent_score'))} → "
             f"{fmt.num(row.get('incumbent_score'))}; best candidate {fmt.num(row.get('best_candidate_score'))}; "
             f"{'accepted' if row.get('accepted') else 'not accepted'}; tokens {row.get('tokens') or 0}, "
             f"{usd_of([row])}, {row.get('seconds') or 0:.1f} s."]
    for c in control.store.candidates(run_id, step):
        lines.append(f"Candidate {c['idx']}: {c.get('status')}, score {fmt.num(c.get('score'))}")
        lines += fmt.diff(prev["values"] if prev else {}, c.get("values") or {})
        if c.get("reasoning"):
            lines.append("  reasoning: " + fmt.cut(" ".join(str(c["reasoning"]).split()), 1500))
        lines.append("  feedback: " + fmt.feedback_line(c.get("feedback"), 600))
    for fb in (row.get("train_feedback") or [])[:3]:
        lines.append("Feedback the optimizer read before proposing: " + fmt.feedback_line(fb, 300))
    return "\n".join(lines)


def _no_step(run_id: str, step: int, rows: list[dict[str, Any]]) -> Exception:
    from trace_core.errors import ConfigError

    last = rows[-1]["step"] if rows else None
    return ConfigError(f"run {run_id} has no step {step}; its steps are 0 to {last}")


def show_costs(control: RunControl) -> str:
    run_id = control.run().run_id
    row = control.store.get_run(run_id)
    steps = control.store.steps(run_id)
    calls = control.store.llm_calls(run_id)
    spent = row.get("spent") or (steps[-1].get("spent") if steps else {}) or {}
    lines = [f"Run {run_id} spent: " + (", ".join(f"{k} {fmt.num(v)}" for k, v in spent.items()
                                                     if v and k != "seconds") or "nothing yet"),
             f"Optimizer LLM calls: {len(calls)}, tokens {sum(s.get('tokens') or 0 for s in steps)}, "
             f"{usd_of(steps)}, "
             f"{sum(1 for c in calls if c.get('cached'))} from the cache."]
    by_model: dict[str, list[int]] = {}
    for c in calls:
        n = by_model.setdefault(c.get("model") or "?", [0, 0])
        n[0] += 1
        n[1] += (c.get("prompt_tokens") or 0) + (c.get("completion_tokens") or 0)
    lines += [f"  {model}: {n} calls, {tokens} tokens" for model, (n, tokens) in by_model.items()]
    costly = [s for s in steps if s.get("tokens") or s.get("cost_usd")][-10:]
    lines += [f"  step {s['step']}: {s.get('tokens') or 0} tokens, {usd_of([s])}" for s in costly]
    own = {k: v for k, v in ((row.get("config") or {}).get("budget") or {}).items() if v is not None}
    lines.append("The run's own budget (what `tracetune resume` honours; session limits replace it): "
                 + (", ".join(f"{k}={fmt.num(v)}" for k, v in own.items()) or "none"))
    lines.append(control.describe_limits())
    return "\n".join(lines)


def export_best(control: RunControl, path: str | None, step: int | None, overwrite: bool) -> str:
    from agents.report import write_atomic

    run_id = control.run_id or control.run().run_id
    row = control.store.get_run(run_id)
    values = row.get("best_values") or {} if step is None else control.store.snapshot(row["id"], step)
    text = json.dumps(redact(values), indent=2, sort_keys=True, ensure_ascii=False)
    what = f"the values after step {step}" if step is not None else f"the best values (score {fmt.num(row.get('best_score'))})"
    if path is None:
        return f"{what[0].upper()}{what[1:]} of run {row['id']}:\n{text}"
    target = control.safe_path(path, (".json",), overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, text + "\n")
    return f"Wrote {what} of run {row['id']} to {target.relative_to(control.workdir)}."


def render_report(control: RunControl, path: str | None, overwrite: bool) -> str:
    from agents._cli_run import DEFAULT_REPORT, attach_graph, report_path
    from agents.report import RunReport

    run = control.run()
    attach_graph(control.store, run.run_id, run.task)
    rep = RunReport.load(control.store, run.run_id)
    target = control.safe_path(path or str(report_path(DEFAULT_REPORT, rep.run)), (".html", ".htm"), overwrite)
    rep.write(target)
    return f"Wrote the HTML report of run {run.run_id} to {target.relative_to(control.workdir)}.\n{rep.summary()}"
