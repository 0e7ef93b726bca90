"""What ``tracetune run`` and ``tracetune resume`` do around the loop: progress,
Ctrl-C, warm start, the report, the regression check and the exit code."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from agents._cli_out import Exit, say
from agents.jobs import Job
from agents.report import RunReport, trace_graph
from agents.store import RunStore
from trace_core.budget import format_usd

__all__ = ["Stopper", "StepPrinter", "finish", "report_path", "resume_command", "store_option", "DEFAULT_REPORT"]

log = logging.getLogger(__name__)

DEFAULT_REPORT = ".tracetune/reports/{name}-{run_id}.html"


class Stopper:
    """``should_stop`` for the loop: the first Ctrl-C (or SIGTERM) asks the run to stop
    after the current step; a second Ctrl-C stops at once."""

    def __init__(self, err: Console):
        self.requested = False
        self.err = err

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        say(self.err, "\nstopping after the current step; everything done so far is kept "
                       "(Ctrl-C again stops at once)")

    @contextlib.contextmanager
    def installed(self) -> Iterator[Stopper]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in old:
            signal.signal(s, self._handle)
        try:
            yield self
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)


def _no_traceback(record: logging.LogRecord) -> bool:
    """Keep the log record of a run's first failed evaluation (its traceback) off the
    terminal unless ``-v`` is given: the summary shows its type, message and frame."""
    return not hasattr(record, "first_error") or logging.getLogger().getEffectiveLevel() <= logging.INFO


class StepPrinter:
    """Progress of a run: a rich progress bar on a terminal, one plain line per step otherwise."""

    def __init__(self, console: Console, total: int | None, *, on_first: Callable[[], str | None] | None = None):
        self.console, self.total, self.on_first = console, total, on_first
        self.progress: Progress | None = None
        self.task: Any = None
        self.best: float | None = None

    def __enter__(self) -> StepPrinter:
        logging.getLogger("agents.loop").addFilter(_no_traceback)
        if self.console.is_terminal:
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TextColumn("best {task.fields[best]}"),
                                     TimeElapsedColumn(), console=self.console, transient=False)
            self.progress.start()
            self.task = self.progress.add_task("starting", total=self.total, best="—")
        return self

    def __exit__(self, *exc: Any) -> None:
        logging.getLogger("agents.loop").removeFilter(_no_traceback)
        if self.progress is not None:
            self.progress.stop()

    def _say(self, text: str) -> None:
        if self.progress is not None:
            say(self.progress.console, text)
        else:
            typer.echo(text)

    def on_step(self, rec: Any) -> None:
        if self.on_first is not None:
            first, self.on_first = self.on_first, None
            note = first()
            if note:
                self._say(note)
        best = "—" if rec.incumbent_score is None else f"{rec.incumbent_score:.6g}"
        if self.progress is not None:
            self.progress.update(self.task, completed=rec.step, description=f"step {rec.step}", best=best)
            if rec.step and rec.accepted:
                self._say(f"step {rec.step}: new best {best}")
            return
        of = f"/{self.total}" if self.total else ""
        if rec.step == 0:
            self._say(f"step 0{of}  starting score {best}")
            return
        statuses = rec.statuses or ["failed"] * len(rec.candidate_scores)
        cands = ", ".join((st if st in ("pruned", "timeout") else "failed") if s is None else f"{s:.6g}"
                          for s, st in zip(rec.candidate_scores, statuses)) or "no change"
        front = "" if rec.front_size is None else f"  front {rec.front_size} (hypervolume {rec.hypervolume or 0:.6g})"
        self._say(f"step {rec.step}{of}  best {best}  candidates [{cands}]{'  accepted' if rec.accepted else ''}"
                  f"{front}  tokens {rec.tokens}  {format_usd(rec.cost_usd)}  {rec.seconds:.2f}s")


def report_path(template: str | None, run: dict[str, Any]) -> Path:
    """Where the HTML report goes: ``{name}``, ``{run_id}`` and ``{date}`` are filled in."""
    text = template or DEFAULT_REPORT
    try:
        return Path(text.format(name=run["name"], run_id=run["id"], date=dt.date.today().isoformat()))
    except (KeyError, IndexError, ValueError):
        return Path(text)


def attach_graph(store: RunStore, run_id: str, task: Any) -> None:
    """When no recorded trace shows the best values (Search reads no traces; an LLM
    optimizer's last trace predates its last accepted step), trace them once so the
    report draws the workflow as it is now. The last step's own trace is kept."""
    rep = RunReport.load(store, run_id)
    found = rep.graph()
    if not rep.steps or (found is not None and found[1] >= rep.best_step):
        return
    g = trace_graph(task)
    if g is not None:
        last = rep.steps[-1]
        wrapped = {"after_step": last["step"], "graph": g, "forward": last.get("graph")}
        store.set_step_graph(run_id, last["step"], wrapped)


def store_option(store: RunStore) -> str:
    """`` --store WHERE`` for a command that must reach ``store``, or "" for the default store
    (a SQLite path made absolute, so it works from any folder; a password never shown)."""
    import shlex

    from agents.store import default_store_url

    if store.url == default_store_url():
        return ""
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return f" --store {shlex.quote(str(Path(url.database).resolve()))}"
    return f" --store {shlex.quote(store.safe_url)}"


def resume_command(store: RunStore, run_id: str) -> str:
    """The command that continues ``run_id`` on ``store``."""
    return f"tracetune resume {run_id}{store_option(store)}"


def finish(store: RunStore, run_id: str, *, out: Console, report: str | None, write_report: bool,
           fail_on_regression: float | None, target: float | None, task: Any = None) -> Exit:
    """Write the report, print the summary, and decide the exit code."""
    if task is not None:
        attach_graph(store, run_id, task)
    rep = RunReport.load(store, run_id)
    say(out, rep.summary())
    if write_report:
        try:
            path = rep.write(report_path(report, rep.run))
            say(out, f"report: {path}")
        except OSError as e:
            say(out, f"could not write the report: {e}")
    run = rep.run
    if run["status"] == "failed":
        return Exit.FAILED
    if run["status"] == "interrupted":
        say(out, f"interrupted; continue with: {resume_command(store, run_id)}")
        return Exit.INTERRUPTED
    comparison = rep.comparison
    if fail_on_regression is not None and comparison is not None and comparison.regressed(fail_on_regression):
        say(out, f"REGRESSION: {comparison.describe()} (more than {fail_on_regression:g}% worse)")
        return Exit.REGRESSION
    if target is not None and run.get("stop_reason") != "target reached":
        say(out, f"the budget ran out before the target {target:g} was reached")
        return Exit.TARGET_MISSED
    return Exit.DONE


def warm_values(previous: dict[str, Any] | None, task: Any, err: Console) -> dict[str, Any] | None:
    """The previous run's best values for the parameters this task still has."""
    if previous is None:
        say(err, "warm start: no earlier finished run of this job; starting from the job's own values")
        return None
    params = {p.name: p for p in task.parameters()}
    values = previous.get("best_values") or {}
    dropped = sorted(set(values) - set(params))
    if dropped:
        say(err, f"warm start: ignoring values of parameters the task no longer has: {', '.join(dropped)}")
    kept = {}
    for name, value in values.items():
        if name not in params:
            continue
        try:
            params[name].space.validate(value)
        except Exception as e:  # noqa: BLE001 - the space changed since that run (bounds, schema)
            say(err, f"warm start: ignoring {name} of run {previous['id']}, it no longer fits: {e}")
            continue
        kept[name] = value
    return kept or None


def llm_option(text: str) -> Any:
    """The LLM a ``--llm`` option names: ``env`` ($TRACETUNE_LLM), ``none``, a model string,
    or a test hook (``scripted:FILE``, ``replay:FILE``; paths from the current folder)."""
    word = text.strip().lower()
    if word in ("none", "off", "env"):
        return "none" if word != "env" else None
    return _llm_spec(text).build()


def _llm_spec(text: str) -> Any:
    from agents.jobs import LLMSpec

    return LLMSpec.model_validate(text, context={"base_dir": Path.cwd()})


def stored_llm_option(text: str) -> str:
    """``--llm`` as kept in the run's config, so ``tracetune resume`` uses the same LLM
    from any folder (a test hook's path made absolute)."""
    word = text.strip().lower()
    return word if word in ("none", "off", "env") else _llm_spec(text).model


def llm_label(llm: Any) -> str:
    """What to call the LLM a run used, for reports."""
    if llm is None:
        return os.environ.get("TRACETUNE_LLM") or "none"
    return llm if isinstance(llm, str) else str(getattr(llm, "model", type(llm).__name__))


def build(job: Job, llm_override: str | None) -> tuple[Any, Any, Any]:
    """Task, LLM (object, ``"none"`` or None for the environment) and optimizer (spec or instance) of a job."""
    task = job.build_task()
    if llm_override is not None:
        llm = llm_option(llm_override)
    else:
        llm = job.llm.build() if job.llm is not None else None
    return task, llm, job.build_optimizer(task, llm)
