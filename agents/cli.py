"""``tracetune``: run tuning jobs, resume them, and look at what they did.

The library never prints; this module does. See ``tracetune --help``.

Each command imports what it uses when it runs (the loop, the store, the report, the
tasks), so ``tracetune --help`` and ``tracetune list`` start fast; a test checks that
importing this module loads no torch, litellm, scikit-learn or optuna.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from agents._cli_out import Exit, say, stderr_console, stdout_console
from agents._report_text import when, write_atomic
from trace_core.errors import ConfigError, InvalidProposal, TraceTuneError
from trace_core.llm.redact import redact

if TYPE_CHECKING:
    from rich.console import Console

    from agents._cli_run import StepPrinter, Stopper
    from agents.jobs import Job
    from agents.store import RunStore

__all__ = ["app", "main"]

EXIT_CODES = ("Exit codes: 0 done; 1 the run failed; 2 usage error or invalid job file; 3 the budget ran out "
              "before the job's target; 4 regression flagged (--fail-on-regression); 130 stopped by Ctrl-C "
              "(continue with `tracetune resume RUN`).")

class _Commands(TyperGroup):
    """Every command: a store found unusable mid-command (SQLite may see a corrupt page
    only when a query reads it) is an error message and exit 2, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as e:
            store = sys.modules.get("agents.store")  # not imported: the error cannot be a StoreError
            if store is not None and isinstance(e, store.StoreError):
                raise _fail(str(e)) from None
            raise


app = typer.Typer(
    cls=_Commands,
    name="tracetune",
    help="Optimize workflows with an LLM or a classical optimizer, from job files.\n\n" + EXIT_CODES,
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)

StoreOpt = Annotated[str | None, typer.Option("--store", metavar="URL", help="Run store: SQLAlchemy URL or SQLite path "
                                                 "(default: $TRACETUNE_STORE or .tracetune/runs.db).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class _StderrHandler(logging.Handler):
    """Log records to whatever ``sys.stderr`` is now."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001
            self.handleError(record)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"tracetune {version('tracetune')}")
        except PackageNotFoundError:
            typer.echo("tracetune (not installed as a package; version unknown)")
        raise typer.Exit()


@app.callback()
def _main(verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="-v info, -vv debug.")] = 0,
          _show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                      help="Print the version and exit.")] = False,
          ) -> None:
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)


_STATUSES = ("running", "finished", "interrupted", "failed")  # what a stored run's status can be


def _fail(message: str, code: Exit = Exit.INVALID) -> typer.Exit:
    say(stderr_console(), f"error: {message}")
    return typer.Exit(int(code))


def _store(url: str | None) -> RunStore:
    from agents.store import RunStore

    try:
        return RunStore(url)
    except ConfigError as e:
        raise _fail(str(e)) from None


def _get_run(store: RunStore, run_id: str) -> dict[str, Any]:
    try:
        return store.get_run(run_id)
    except ConfigError as e:
        matches = [r for r in store.list_runs(limit=1_000_000) if r["id"].startswith(run_id)] if run_id else []
        if len(matches) < 2:
            raise _fail(str(e)) from None
        shown = "\n".join(f"  {r['id']}  {r['name']}  {r['status']}  {when(r.get('created_at'))}"
                          for r in matches[:10])
        more = f"\n  … and {len(matches) - 10} more" if len(matches) > 10 else ""
        raise _fail(f"run id {run_id!r} is ambiguous: it starts {len(matches)} runs in {store.safe_url}; "
                    f"give more of the id:\n{shown}{more}") from None


@app.command(epilog=EXIT_CODES)
def run(
    job_file: Annotated[Path, typer.Argument(metavar="JOB", help="Job file (.toml, .yaml, .json).")],
    warm_start: Annotated[bool | None, typer.Option(
        "--warm-start/--no-warm-start",
        help="Start from the best values of the last finished run of this job.")] = None,
    fail_on_regression: Annotated[float | None, typer.Option(
        "--fail-on-regression", metavar="PCT", min=0,
        help="Exit 4 when the best score is worse than the last finished run's by more than PCT percent.")] = None,
    store: StoreOpt = None,
    report: Annotated[str | None, typer.Option(
        "--report", metavar="PATH", help="HTML report path ({name}, {run_id}, {date} are filled in).")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Write no HTML report.")] = False,
    llm: Annotated[str | None, typer.Option(
        "--llm", metavar="LLM", help="Use this LLM instead of the job's: a model string, 'env' ($TRACETUNE_LLM), "
                      "or scripted:FILE / replay:FILE (offline).")] = None,
) -> None:
    """Run a job file, print a summary, and write the HTML report."""
    from agents._cli_run import Stopper, StepPrinter, build, finish, llm_label, stored_llm_option, warm_values
    from agents.jobs import load_job

    try:
        job = load_job(job_file)
    except ConfigError as e:
        raise _fail(str(e)) from None
    warm = job.warm_start if warm_start is None else warm_start
    pct = fail_on_regression if fail_on_regression is not None else job.fail_on_regression
    runs = _store(store or job.store)
    err, out = stderr_console(), stdout_console()
    try:
        task, llm_obj, optimizer = build(job, llm)
    except Exception as e:  # noqa: BLE001 - user code (a workflow class, a custom optimizer) may raise anything
        logging.getLogger(__name__).debug("setting up the job failed", exc_info=True)
        detail = str(e) if isinstance(e, TraceTuneError) else f"{type(e).__name__}: {e}"
        raise _fail(f"cannot set up job {job.name!r}: {detail}") from None
    missing = _missing_llm(job, job_file, task, llm_obj)
    if missing:
        raise _fail(missing)
    previous = next(iter(runs.list_runs(job_key=job.name, status="finished", limit=1)), None)
    if warm:
        from agents._front_report import warm_start_row

        previous = warm_start_row(runs, previous)  # a multi-objective run: one member of its front
    initial = warm_values(previous, task, err) if warm else None
    run_id = uuid.uuid4().hex[:12]  # chosen here: another worker may run the same job on this store
    extra = {"job": job.stored(), "job_file": str(job_file.resolve()),
             "previous_run": previous["id"] if previous else None,
             "warm_start_from": previous["id"] if initial else None, "fail_on_regression": pct,
             "warm_start_member": previous.get("warm_member") if initial else None,
             "report": None if no_report else (report or job.report)}
    if llm is not None:
        extra["llm_option"] = stored_llm_option(llm)  # `tracetune resume` uses the same LLM
    elif job.llm is not None and not job.llm.is_test_hook:
        extra["llm"] = job.llm.settings()  # so the Python resume() rebuilds it too
    extra["llm_model"] = llm_label(llm_obj)
    stopper = Stopper(err)

    def first() -> str:
        return f"run {run_id}: job {job.name}, store {runs.safe_url}"

    code = _loop(lambda on_step: _optimize(job, task, optimizer, llm_obj, runs, extra, initial, on_step, stopper,
                                           run_id),
                 StepPrinter(out, job.budget.max_steps, on_first=first), stopper, err)
    try:
        runs.get_run(run_id)
    except ConfigError:  # refused before the run was created: the error is printed
        raise typer.Exit(int(code[0])) from None
    result = finish(runs, run_id, out=out, report=extra["report"], write_report=not no_report,
                    fail_on_regression=pct, target=job.target, task=task)
    raise typer.Exit(int(code[0] if code[0] != Exit.DONE else result))


def _missing_llm(job: Job, job_file: Path, task: Any, llm: Any) -> str | None:
    """What to do when the job's optimizer needs an LLM and none is configured, for a CLI user."""
    from optimizers._flatten import dimensions, spec_of
    from trace_core.llm import llm_from_env

    name = job.optimizer.name
    if name not in ("optoprime", "opro") or llm not in (None, "none") or (llm is None and llm_from_env()):
        return None
    ways = ["set TRACETUNE_LLM (e.g. TRACETUNE_LLM=openai/gpt-4o-mini) or pass --llm MODEL"]
    replies = job_file.resolve().parent / "replies" / f"{job_file.stem}.json"
    if replies.exists():
        shown = replies.relative_to(Path.cwd()) if replies.is_relative_to(Path.cwd()) else replies
        ways.append(f"offline, replay the example replies: --llm scripted:{shown}")
    else:
        ways.append("offline, replay replies from a file: --llm scripted:FILE (examples/jobs/replies/ has some)")
    params = list(task.parameters())
    if params and all(dimensions(spec_of(p.space)) > 0 for p in params):
        ways.append('or use a classical optimizer: optimizer = "search" in the job file')
    elif params and all(p.space.kind != "code" for p in params):
        ways.append('or optimize without an LLM: optimizer = "default" in the job file')
    return f"the {name} optimizer of job {job.name!r} needs an LLM and none is set: " + "; ".join(ways)


def _optimize(job: Job, task: Any, optimizer: Any, llm: Any, store: RunStore, extra: dict[str, Any],
              initial: dict[str, Any] | None, on_step: Any, stopper: Stopper, run_id: str) -> str:
    from agents.loop import optimize

    return optimize(task, optimizer=optimizer, llm=llm, budget=job.make_budget(), k=job.k, executor=job.executor,
                    store=store, seed=job.seed, minibatch=job.minibatch, workers=job.workers, timeout=job.timeout,
                    target=job.target, name=job.name, job_key=job.name, extra_config=extra, on_step=on_step,
                    should_stop=stopper, initial_values=initial, run_id=run_id,
                    evaluate_start=job.evaluate_start).run_id


def _loop(go: Any, printer: StepPrinter, stopper: Stopper, err: Console) -> tuple[Exit, str | None]:
    """Run ``go(on_step)`` under the printer and the Ctrl-C handler; map errors to exit codes."""
    try:
        with stopper.installed(), printer:
            return Exit.DONE, go(printer.on_step)
    except KeyboardInterrupt:
        say(err, "stopped at once (second Ctrl-C); the last committed step is kept")
        return Exit.INTERRUPTED, None
    except (ConfigError, InvalidProposal) as e:
        say(err, f"error: {e}")
        return Exit.INVALID, None
    except Exception as e:  # noqa: BLE001 - any failure of the run: reported, exit 1
        logging.getLogger(__name__).debug("run failed", exc_info=True)
        say(err, f"the run failed: {type(e).__name__}: {e}")
        return Exit.FAILED, None


@app.command(epilog=EXIT_CODES)
def resume(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id (a unique prefix is enough).")],
    store: StoreOpt = None,
    report: Annotated[str | None, typer.Option("--report", metavar="PATH", help="HTML report path.")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Write no HTML report.")] = False,
    llm: Annotated[str | None, typer.Option("--llm", metavar="LLM", help="Use this LLM instead of the job's.")] = None,
    take_over: Annotated[bool, typer.Option("--take-over", help="Take the run from the process working on it "
                                            "(stop that process first); a stale owner is taken over anyway.")] = False,
) -> None:
    """Continue a killed, interrupted or failed run from its last step.

    A finished run is left as it is: resume says so and exits 0. A run another process is
    working on is refused, naming that process, unless --take-over.
    """
    from agents import _cli_views as views
    from agents._cli_run import StepPrinter, Stopper, build, finish, llm_option, store_option
    from agents.jobs import Job
    from agents.loop import resume as resume_run

    runs = _store(store)
    row = _get_run(runs, run_id)
    if row["status"] == "finished":
        say(stdout_console(), f"run {row['id']} ({row['name']}) is finished ({views.why_stopped(row) or 'done'}); "
                              f"nothing to resume. `tracetune show {row['id']}{store_option(runs)}` shows it.")
        raise typer.Exit(int(Exit.DONE))
    cfg = row.get("config") or {}
    task = optimizer = llm_obj = None
    job: Job | None = None
    if cfg.get("job"):
        try:
            job = Job.model_validate(cfg["job"], context={"base_dir": cfg["job"].get("base_dir", ".")})
            task, llm_obj, optimizer = build(job, llm or cfg.get("llm_option"))
        except (TraceTuneError, ImportError, TypeError, ValueError) as e:
            raise _fail(f"cannot rebuild the job of run {row['id']}: {e}") from None
        optimizer = optimizer if job.optimizer.custom else None
    elif llm is not None:
        try:
            llm_obj = llm_option(llm)
        except (TraceTuneError, ValueError) as e:
            raise _fail(f"--llm {llm!r}: {e}") from None
    err, out = stderr_console(), stdout_console()
    stopper = Stopper(err)
    total = (cfg.get("budget") or {}).get("max_steps")
    last = (runs.last_step(row["id"]) or {}).get("step", "-")
    say(out, f"resuming run {row['id']} ({row['name']}) after step {last}")
    code, _ = _loop(lambda on_step: resume_run(row["id"], store=runs, task=task, optimizer=optimizer, llm=llm_obj,
                                               take_over=take_over, on_step=on_step, should_stop=stopper).run_id,
                    StepPrinter(out, total), stopper, err)
    if code == Exit.INVALID:  # the run could not be rebuilt: nothing ran, nothing to report
        raise typer.Exit(int(code))
    result = finish(runs, row["id"], out=out, report=report or cfg.get("report"), write_report=not no_report,
                    fail_on_regression=cfg.get("fail_on_regression"), target=cfg.get("target"), task=task)
    raise typer.Exit(int(code if code != Exit.DONE else result))


@app.command("list")
def list_(
    store: StoreOpt = None,
    job: Annotated[str | None, typer.Option("--job", metavar="NAME", help="Only runs of this job.")] = None,
    status: Annotated[str | None, typer.Option("--status", metavar="STATUS", help="running, finished, interrupted or failed.")] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, help="At most this many runs, newest first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    from agents import _cli_views as views

    if status is not None and status not in _STATUSES:
        raise _fail(f"--status {status!r}: use one of {', '.join(_STATUSES)}")
    views.list_runs(_store(store), job=job, status=status, limit=limit, as_json=as_json, out=stdout_console())


@app.command()
def show(run_id: Annotated[str, typer.Argument(metavar="RUN")], store: StoreOpt = None,
         as_json: JsonOpt = False) -> None:
    """Show a run: settings, scores, spending, steps and best values (and its front, with several objectives)."""
    from agents import _cli_views as views

    runs = _store(store)
    views.show_run(runs, _get_run(runs, run_id), as_json=as_json, out=stdout_console())


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    html: Annotated[Path | None, typer.Option("--html", metavar="PATH", help="Write the self-contained HTML report here.")] = None,
    store: StoreOpt = None,
) -> None:
    """Print a run's summary; --html also writes the HTML report."""
    from agents.report import RunReport

    runs = _store(store)
    rep = RunReport.load(runs, _get_run(runs, run_id)["id"])
    typer.echo(rep.summary())
    if html is not None:
        typer.echo(f"report: {rep.write(html)}")


@app.command()
def export(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    store: StoreOpt = None,
    step: Annotated[int | None, typer.Option("--step", metavar="STEP", help="The values after this step instead of the best.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="PATH", help="Write to this file, not stdout.")] = None,
    front: Annotated[bool, typer.Option("--front", help="A multi-objective run's front (after --step, default the "
                                        "last): objective values and parameter values of each candidate on it.")] = False,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="json, or csv (with --front).")] = "json",
) -> None:
    """Print a run's best parameter values as JSON (name -> value), or its front (--front).

    Key-shaped text in the values is redacted.
    """
    from agents._cli_front import FORMATS, front_of, front_text

    if fmt not in FORMATS or (fmt == "csv" and not front):
        raise _fail(f"--format {fmt!r}: use json, or csv with --front")
    runs = _store(store)
    row = _get_run(runs, run_id)
    try:
        if front:
            data = front_of(runs, row, step)
            if data is None:
                raise ConfigError(f"run {row['id']} has one objective, so it keeps no front; export its best "
                                  "values without --front")
            text = front_text(data, fmt)
        else:
            values = row.get("best_values") or {} if step is None else runs.snapshot(row["id"], step)
            text = json.dumps(redact(values), indent=2, sort_keys=True, ensure_ascii=False)
    except ConfigError as e:
        raise _fail(str(e)) from None
    if output is None:
        typer.echo(text)
    else:
        try:
            write_atomic(output, text + "\n")
        except OSError as e:
            raise _fail(f"cannot write {output}: {e.strerror or e}") from None


@app.command()
def tasks(
    names: Annotated[list[str] | None, typer.Argument(
        metavar="[NAME]...", help="Show these tasks with their parameters and options.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the registered tasks; with names, their parameters and options.

    Without names nothing is imported (each task's source is read); each named task is
    built with its defaults.
    """
    from agents import _cli_views as views

    views.list_tasks(names or None, as_json=as_json, out=stdout_console())


@app.command()
def chat(
    session: Annotated[str | None, typer.Option("--session", metavar="ID", help="Continue this chat session ('last': the most recent).")] = None,
    run: Annotated[str | None, typer.Option("--run", metavar="RUN", help="Drive this run (id or unique prefix).")] = None,
    store: StoreOpt = None,
    db: Annotated[str | None, typer.Option("--db", metavar="PATH", help="Session file (default $TRACETUNE_CHAT_DB or .tracetune/chat.db).")] = None,
    llm: Annotated[str | None, typer.Option("--llm", metavar="LLM", help="Chat model (default $TRACETUNE_CHAT_LLM, then $TRACETUNE_LLM); scripted:FILE for tests.")] = None,
    approve: Annotated[bool | None, typer.Option("--approve/--no-approve", help="Ask before a proposal is applied (kept with the session).")] = None,
    chat_max_tokens: Annotated[int | None, typer.Option("--chat-max-tokens", metavar="N", min=0, help="Token limit for the chat model in this session.")] = None,
    chat_max_usd: Annotated[float | None, typer.Option("--chat-max-usd", metavar="USD", min=0, help="Dollar limit for the chat model in this session.")] = None,
) -> None:
    """Talk to tracetune about a run: inspect, optimize, accept, export.

    The model calls tools that inspect runs, run steps, accept or roll back proposals and
    export results. Ctrl-C stops a turn, Ctrl-D quits.
    """
    import threading

    from agents.chat.repl import main as chat_main

    before = set(threading.enumerate())
    code = chat_main(session, run, store, db=db, llm=llm, approve=approve, chat_max_tokens=chat_max_tokens,
                     chat_max_usd=chat_max_usd)
    if [t for t in set(threading.enumerate()) - before if t.name.startswith(("chat-tool-", "tracetune-"))]:
        # a stopped tool call, or an evaluation past its timeout, may never end: the session is saved
        # and closed, so exit without waiting for their threads
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code)


def main() -> None:
    """The ``tracetune`` console script."""
    app(prog_name="tracetune")


if __name__ == "__main__":
    main()
