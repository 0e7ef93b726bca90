"""The read-only views of ``tracetune``: runs, one run, and the registered tasks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from agents._cli_out import say
from agents._failures import describe_error, failure_counts
from agents._report_text import when, why_stopped
from trace_core.budget import UNPRICED, format_usd
from trace_core.llm.redact import redact, redact_text

if TYPE_CHECKING:
    from agents.store import RunStore

__all__ = ["list_runs", "show_run", "list_tasks", "when", "why_stopped"]


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def _short(value: Any, limit: int = 60) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _echo_json(data: Any) -> None:
    """``data`` as JSON, redacted (keys in values, reasoning or feedback never reach the terminal)."""
    typer.echo(json.dumps(redact(data), indent=2, sort_keys=True, default=str, ensure_ascii=False))


def list_runs(store: RunStore, *, job: str | None, status: str | None, limit: int, as_json: bool,
              out: Console) -> None:
    runs = store.list_runs(job_key=job, status=status, limit=limit)
    if as_json:
        _echo_json([{k: r.get(k) for k in ("id", "name", "job_key", "task", "status", "stop_reason", "best_score",
                                           "initial_score", "direction", "created_at", "updated_at")} for r in runs])
        return
    if not runs:
        say(out, f"no runs in {store.safe_url}")
        return
    table = Table("run", "job", "task", "status", "start", "best", "stop reason", "created", box=None)
    for r in runs:
        table.add_row(r["id"], redact_text(r.get("job_key") or r["name"]), r.get("task") or "", r["status"],
                      _num(r.get("initial_score")), _num(r.get("best_score")), redact_text(why_stopped(r)),
                      when(r.get("created_at")))
    out.print(table)


def show_run(store: RunStore, run: dict[str, Any], *, as_json: bool, out: Console) -> None:
    from agents._cli_front import front_of, print_front

    steps = store.steps(run["id"])
    cfg = run.get("config") or {}
    tally = store.tally(run["id"])
    front = front_of(store, run)  # None for a single-objective run
    fronts = {f["step"]: f for f in store.fronts(run["id"])} if front is not None else {}
    if as_json:
        _echo_json({"run": run, "steps": [{k: v for k, v in s.items() if k != "graph"} for s in steps],
                    "outcomes": tally["outcomes"], "proposal_failures": tally["failures"],
                    "first_error": cfg.get("first_error"), **({"front": front, "fronts": list(fronts.values())}
                                                              if front is not None else {})})
        return
    job = cfg.get("job") or {}
    opt = cfg.get("optimizer") or {}
    llm = cfg.get("llm_model") or (job.get("llm") or {}).get("model") or cfg.get("llm") or "none (or $TRACETUNE_LLM)"
    meta = Table(box=None, show_header=False)
    for key, value in (("run", run["id"]), ("job", run.get("job_key")), ("task", run.get("task")),
                       ("status", f"{run['status']}: {why_stopped(run) or '—'}"),
                       ("optimizer", opt.get("name", "default")), ("llm", llm),
                       ("score", f"{_num(run.get('initial_score'))} → {_num(run.get('best_score'))} "
                                 f"({run.get('direction')})"),
                       ("failures", failure_counts(tally["outcomes"], tally["failures"]).removeprefix("failures: ")),
                       ("first error", describe_error(cfg.get("first_error")).removeprefix("first error ") or "—"),
                       ("spent", _spent(run.get("spent") or {})),
                       ("job file", cfg.get("job_file") or "—"), ("created", when(run.get("created_at"))),
                       ("updated", when(run.get("updated_at")))):
        meta.add_row(key, redact_text(str(value)))
    out.print(meta)
    several = ("front", "hypervolume") if front is not None else ()
    table = Table("step", "best so far", "best candidate", "accepted", *several, "tokens", "USD", "seconds", box=None)
    for s in steps:
        f = fronts.get(s["step"]) or {}
        table.add_row(str(s["step"]), _num(s.get("incumbent_score")), _num(s.get("best_candidate_score")),
                      "✓" if s.get("accepted") and s["step"] else "",
                      *((str(f.get("size", "—")), _num(f.get("hypervolume"))) if several else ()),
                      str(s.get("tokens") or 0), _step_usd(s), f"{s.get('seconds') or 0:.2f}")
    out.print(table)
    if front is not None:
        print_front(front, out)
    values = Table("parameter", "best value", box=None)
    for name, value in (run.get("best_values") or {}).items():
        values.add_row(redact_text(name), redact_text(_short(value, 100)))
    out.print(values)


def _step_usd(step: dict[str, Any]) -> str:
    """A step's cost: ``?`` when it made LLM calls whose price is unknown."""
    usd = step.get("cost_usd")
    return format_usd(usd)[1:] if usd is not None or not step.get("tokens") else "?"


def _spent(spent: dict[str, Any]) -> str:
    """What a run spent; dollars read ``$?`` (or ``$x+?``) while some calls had no known price."""
    unpriced = spent.get(UNPRICED) or 0
    parts = [f"{k} {v:.4g}" for k, v in spent.items() if v and k not in ("usd", UNPRICED)]
    if spent.get("usd") or unpriced:
        parts.append(f"usd {format_usd(spent.get('usd') or 0.0, unpriced) if spent.get('usd') else '$?'}")
    return ", ".join(parts)


def _describe(name: str) -> dict[str, Any]:
    from tasks.base import describe_options
    from tasks.registry import task_class

    try:
        cls = task_class(name)
        task = cls()
        params = [{"name": p.name, "space": p.space.describe(), "value": _short(p.value),
                   "description": p.description or ""} for p in task.parameters()]
        return {"name": name, "direction": task.direction, "description": task.description, "parameters": params,
                "options": describe_options(getattr(cls, "Options", None))}
    except Exception as e:  # noqa: BLE001 - one task that cannot be built must not hide the others
        return {"name": name, "error": f"{type(e).__name__}: {e}"}


def list_tasks(names: Sequence[str] | None, *, as_json: bool, out: Console) -> None:
    """Without names: each registered task in a line, read from its source (no task is
    imported). With names: those tasks built in turn, their parameters and options."""
    from tasks.registry import task_names

    known = task_names()
    unknown = [n for n in names or () if n not in known]
    if unknown:
        say(Console(stderr=True), f"error: unknown task {', '.join(unknown)}; registered: {', '.join(known)}")
        raise typer.Exit(2)
    infos = []
    for name in names or known:
        info = _describe(name) if names else _summary(name)
        infos.append(info)
        if as_json:
            continue
        if "error" in info:
            say(out, f"{name}: cannot be built: {info['error']}")
            continue
        first_line = (info["description"] or "").strip().split("\n", 1)[0]
        say(out, f"{name} ({info['direction']}): {first_line}")
        for p in info.get("parameters", ()):
            say(out, f"    {p['name']}: {_short(p['space'], 100)} = {p['value']}")
        if info.get("options"):  # `tracetune tasks NAME`: what [task] options = {...} may hold
            say(out, "  options (job file: [task] options = { name = value, ... }):")
            for o in info["options"]:
                default = "" if o["default"] is None else f" (default {_short(o['default'], 40)})"
                say(out, f"    {o['name']}: {o['allowed']}{default}" + (f"; {o['help']}" if o["help"] else ""))
    if as_json:
        _echo_json(infos)
    elif not names:
        say(out, "`tracetune tasks NAME` lists a task's parameters and options.")


def _summary(name: str) -> dict[str, Any]:
    from tasks.registry import task_summary

    try:
        return task_summary(name)
    except Exception as e:  # noqa: BLE001 - one task that cannot be read must not hide the others
        return {"name": name, "error": f"{type(e).__name__}: {e}"}
