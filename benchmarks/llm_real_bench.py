"""Real-model benchmark: LLM optimizers against classical search at equal evaluations.

For any OpenAI-compatible model (``--model`` or ``$TRACETUNE_LLM``, ``--api-base`` or
``$TRACETUNE_LLM_API_BASE``, ``--timeout`` or ``$TRACETUNE_LLM_TIMEOUT``) it runs
OptoPrime on numeric, code_repair and prompt_qa and Evolution with LLM operators on
design3d. Each LLM run is followed by its classical baselines, given as many
evaluations as the LLM run used: Search (TPE) and random search where the parameters
are numbers, Evolution with word operators where the parameter is a Text prompt
(Search refuses Text). No classical optimizer edits code: code_repair's start is its
baseline. prompt_qa answers with the task's offline simulated student, so the model
is measured as the optimizer only. Every request carries ``temperature`` (0.7) and
``seed`` = the run's seed: on a server that honours ``seed``, one seed is one run.

One table: per task and optimizer, start -> best (median over seeds, and per seed),
evaluations to reach the best, replies parsed the first time, repairs, no-change
proposals, seconds per call (median) and tokens per run (prompt+completion, median).
The LLM figures come from the model's call log (JSON lines, one per call) and the
run store; each is computed by one small function below.

``--out FILE`` appends one JSON line per finished run (written at once), keeps the call
logs in ``FILE.calls/`` and the runs in ``FILE.runs.db``; ``--resume-from FILE`` skips
the runs already in it. With no model configured it prints "skipped: no LLM
configured" and exits 0.

Run: ``TRACETUNE_LLM=openai/local TRACETUNE_LLM_API_BASE=http://127.0.0.1:8765/v1
python benchmarks/llm_real_bench.py --timeout 900 --out llm_real.jsonl``
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from agents import RunStore, open_store, optimize  # noqa: E402
from tasks.registry import build_task  # noqa: E402
from trace_core import Budget, prompts  # noqa: E402
from trace_core.errors import TraceTuneError  # noqa: E402
from trace_core.llm import LiteLLM  # noqa: E402
from trace_core.llm.env import ENV_API_BASE, ENV_API_KEY, ENV_MODEL  # noqa: E402

ENV_TIMEOUT = "TRACETUNE_LLM_TIMEOUT"
SKIPPED = "skipped: no LLM configured"


@dataclass(frozen=True)
class Plan:
    """How one task is benchmarked: its LLM optimizer, classical baselines and seeds."""

    llm_optimizer: str  # an optimizer name of the project: "optoprime" or "evolution"
    label: str
    baselines: tuple[tuple[str, str], ...]  # (label, optimizer spec), run without an LLM
    seeds: int
    note: str = ""


PLANS = {
    "numeric": Plan("optoprime", "OptoPrime", (("Search (TPE)", "search:tpe"), ("random search", "search:random")), 3),
    "code_repair": Plan("optoprime", "OptoPrime", (), 3,
                        "no classical optimizer edits code: the start is the baseline"),
    "prompt_qa": Plan("optoprime", "OptoPrime", (("Evolution (words)", "evolution"),), 1,
                      "Search has no numbers to search in a Text prompt: word-operator Evolution is the baseline"),
    "design3d": Plan("evolution", "Evolution + LLM", (("Evolution (words)", "evolution"),), 1,
                     "Search has no numbers to search in a Text prompt: word-operator Evolution is the baseline"),
}


@dataclass(frozen=True)
class Model:
    """The model under test and how every request to it is sent."""

    name: str
    api_base: str | None
    timeout: float
    temperature: float
    structured_output: bool | str | None = "auto"

    def llm(self, seed: int, log_path: Path) -> LiteLLM:
        """A client whose every request has the run's ``seed``, logging each call to ``log_path``."""
        return LiteLLM(self.name, api_base=self.api_base, api_key=os.environ.get(ENV_API_KEY) or None,
                       timeout=self.timeout, log_path=log_path, temperature=self.temperature, seed=seed,
                       structured_output=self.structured_output)


# -- statistics: one function per figure --------------------------------------------------------


def read_calls(path: Path) -> list[dict[str, Any]]:
    """The call log's records in order (a line cut off by a kill is skipped)."""
    if not path.exists():
        return []
    calls = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            calls.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return calls


CHALLENGE = prompts.render("reply/challenge", reply_format="").strip()[:40]


def is_challenge(call: dict[str, Any]) -> bool:
    """Whether a logged call asks the model once more after it declined to change anything."""
    messages = call.get("messages") or [{}]
    return str(messages[-1].get("content", "")).startswith(CHALLENGE)


def is_repair(call: dict[str, Any]) -> bool:
    """Whether a logged call asks the model to fix a rejected reply: the optimizers' repair
    turn resends the conversation with the rejected reply as an assistant message (a challenge
    does too, but asks a new question: its reply counts as a first reply)."""
    return any(m.get("role") == "assistant" for m in call.get("messages", ())) and not is_challenge(call)


def parsed_first_time(calls: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """(first replies used without a repair, first replies that came back). A first reply
    counts as parsed when no repair call follows it before the next first call (a repair
    the budget refused at the very end of a run is not seen)."""
    parsed = firsts = 0
    open_reply = False
    for call in calls:
        if is_repair(call):
            open_reply = False
            continue
        parsed += open_reply
        open_reply = "error" not in call
        firsts += open_reply
    return parsed + open_reply, firsts


def repairs(calls: Sequence[dict[str, Any]]) -> int:
    """Repair calls sent (each one rejected reply sent back with its error)."""
    return sum(is_repair(c) for c in calls)


def call_seconds(calls: Sequence[dict[str, Any]]) -> list[float]:
    """Seconds of each answered, uncached call (queueing at the server included)."""
    return [float(c.get("latency_s") or 0.0) for c in calls if "error" not in c and not c.get("cached")]


def tokens(calls: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """(prompt tokens, completion tokens) over all calls, as the server reported them."""
    usage = [c.get("usage") or {} for c in calls]
    return sum(u.get("prompt_tokens", 0) for u in usage), sum(u.get("completion_tokens", 0) for u in usage)


def no_change(candidates: Sequence[dict[str, Any]]) -> tuple[int, int, int]:
    """(no-change proposals, proposals, proposals given up on) after the start: a no-change
    proposal is stored with status "no change"; one given up on is a reply still unusable
    after its repairs (its reasoning says so)."""
    proposals = [c for c in candidates if c["step"] > 0]
    kept = [c for c in proposals if c["status"] == "no change"]
    gave_up = [c for c in kept if "could not be used" in (c.get("reasoning") or "")]
    return len(kept), len(proposals), len(gave_up)


def evaluations_to_best(steps: Sequence[dict[str, Any]], candidates: Sequence[dict[str, Any]]) -> int:
    """Evaluations spent until the incumbent first had its final score: the start counts
    one, every later step the candidates it evaluated (a no-change costs none)."""
    evaluated = Counter(c["step"] for c in candidates if c["step"] > 0 and c["status"] != "no change")
    final = steps[-1]["incumbent_score"] if steps else None
    spent = 0
    for s in steps:
        spent += 1 if s["step"] == 0 else evaluated[s["step"]]
        if s["incumbent_score"] == final:
            break
    return spent


def llm_figures(calls: Sequence[dict[str, Any]], candidates: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The LLM-side fields of a run's record."""
    parsed, firsts = parsed_first_time(calls)
    changes, proposals, gave_up = no_change(candidates)
    prompt, completion = tokens(calls)
    return {"calls": len(calls), "failed_calls": sum("error" in c for c in calls), "parsed_first": parsed,
            "first_replies": firsts, "repairs": repairs(calls), "challenges": sum(map(is_challenge, calls)),
            "no_change": changes, "proposals": proposals,
            "gave_up": gave_up, "call_seconds": call_seconds(calls), "prompt_tokens": prompt,
            "completion_tokens": completion}


# -- runs ---------------------------------------------------------------------------------------


#: Scores at which a run stops early: the best each task can reach (numeric: as its example job).
TARGETS = {"code_repair": 1.0, "prompt_qa": 1.0, "numeric": 0.001}


def run_once(task_name: str, label: str, spec: str, seed: int, budget: Budget, store: RunStore,
             model: Model | None = None, log_path: Path | None = None) -> dict[str, Any]:
    """One optimization run and its record; ``model`` None runs a classical baseline."""
    llm: Any = "none"
    if model is not None and log_path is not None:
        log_path.unlink(missing_ok=True)  # a run cut off before is done again from scratch
        llm = model.llm(seed, log_path)
    started = time.perf_counter()
    result = optimize(build_task(task_name), optimizer=spec, llm=llm, budget=budget, seed=seed, store=store,
                      target=TARGETS.get(task_name), name=f"bench-{task_name}-{label}-{seed}")
    steps, candidates = store.steps(result.run_id), store.candidates(result.run_id)
    record = {"task": task_name, "optimizer": label, "seed": seed, "start": result.initial_score,
              "best": result.best_score, "evaluations": int(result.spent["evaluations"]),
              "evaluations_to_best": evaluations_to_best(steps, candidates), "stop_reason": result.stop_reason,
              "seconds": round(time.perf_counter() - started, 1), "run_id": result.run_id}
    if model is not None and log_path is not None:
        record.update(model=model.name, temperature=model.temperature, request_seed=seed)
        record.update(llm_figures(read_calls(log_path), candidates))
    return record


def planned(tasks: Sequence[str], seeds: int | None,
            only: Sequence[int] | None = None) -> Iterator[tuple[str, str, str, int]]:
    """(task, optimizer label, spec, seed) in the order they run: each LLM run before its baselines
    (``only``: these seeds instead of the first ``seeds``, to spread seeds over several servers)."""
    for task in tasks:
        plan = PLANS[task]
        for seed in (only or range(seeds or plan.seeds)):
            yield task, plan.label, plan.llm_optimizer, seed
            for label, spec in plan.baselines:
                yield task, label, spec, seed


def llm_budget(task: str, args: argparse.Namespace) -> Budget:
    if PLANS[task].llm_optimizer == "evolution":
        return Budget(max_calls=args.design3d_calls)
    return Budget(max_steps=args.max_steps)


class Results:
    """Run records: those read from ``--resume-from`` and new ones, each new one appended
    to ``--out`` as one JSON line the moment it is done."""

    def __init__(self, out: Path | None, resume_from: Path | None):
        self.records: list[dict[str, Any]] = []
        if resume_from is not None:
            if not resume_from.exists():
                raise SystemExit(f"error: --resume-from {resume_from} does not exist; drop the flag to start afresh")
            self.records = [json.loads(line) for line in resume_from.read_text().splitlines() if line.strip()]
        self.out = out
        same = out is not None and resume_from is not None and out.resolve() == resume_from.resolve()
        if out is not None and not same:
            if out.exists():
                raise SystemExit(f"error: {out} exists; pass --resume-from {out} to continue it, or another --out")
            for record in self.records:
                self._append(record)

    def _append(self, record: dict[str, Any]) -> None:
        assert self.out is not None
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self.out is not None:
            self._append(record)

    def find(self, task: str, label: str, seed: int) -> dict[str, Any] | None:
        return next((r for r in self.records if (r["task"], r["optimizer"], r["seed"]) == (task, label, seed)), None)


def run_all(args: argparse.Namespace, model: Model, results: Results) -> None:
    work = Path(str(args.out) + ".calls") if args.out else Path(tempfile.mkdtemp(prefix="llm-real-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    store = open_store(Path(str(args.out) + ".runs.db") if args.out else "sqlite://")
    runs = list(planned(args.tasks, args.seeds, args.seed_list))
    for i, (task, label, spec, seed) in enumerate(runs, 1):
        if results.find(task, label, seed) is not None:
            continue
        if label == PLANS[task].label:
            record = run_once(task, label, spec, seed, llm_budget(task, args), store, model,
                              work / f"{task}-seed{seed}.jsonl")
        else:
            llm_run = results.find(task, PLANS[task].label, seed)
            assert llm_run is not None  # it runs first
            record = run_once(task, label, spec, seed, Budget(max_evaluations=llm_run["evaluations"]), store)
        results.add(record)
        print(f"[{i}/{len(runs)}] {task} {label} seed {seed}: {_num(record['start'])} -> {_num(record['best'])} "
              f"in {record['evaluations']} evaluations, {record['seconds']:.0f} s", file=sys.stderr, flush=True)


# -- the table ----------------------------------------------------------------------------------


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _pct(part: int, whole: int) -> str:
    return "-" if not whole else f"{100 * part / whole:.0f}%"


def _k(n: float | None) -> str:
    return "-" if n is None else (f"{n / 1000:.1f}k" if n >= 1000 else f"{n:.0f}")


def row(task: str, label: str, runs: Sequence[dict[str, Any]]) -> list[str]:
    """One table row over the seeds of (task, optimizer)."""
    runs = sorted(runs, key=lambda r: r["seed"])
    cells = [task, label, str(len(runs)),
             f"{_num(_median([r['start'] for r in runs]))} -> {_num(_median([r['best'] for r in runs]))}",
             " / ".join(_num(r["best"]) for r in runs),
             f"{_num(_median([r['evaluations_to_best'] for r in runs]))} of "
             f"{_num(_median([r['evaluations'] for r in runs]))}"]
    if "calls" not in runs[0]:
        return cells + ["-"] * 5
    total = {k: sum(r[k] for r in runs) for k in ("parsed_first", "first_replies", "repairs", "no_change",
                                                  "proposals", "gave_up")}
    seconds = [s for r in runs for s in r["call_seconds"]]
    gave_up = f" ({total['gave_up']} unusable)" if total["gave_up"] else ""
    challenged = sum(r.get("challenges", 0) for r in runs)
    return cells + [_pct(total["parsed_first"], total["first_replies"]), f"{total['repairs']} / {challenged}",
                    _pct(total["no_change"], total["proposals"]) + gave_up,
                    f"{statistics.median(seconds):.1f}" if seconds else "-",
                    f"{_k(_median([r['prompt_tokens'] for r in runs]))}+"
                    f"{_k(_median([r['completion_tokens'] for r in runs]))}"]


HEAD = ["task", "optimizer", "seeds", "start -> best (median)", "best per seed", "evals to best (median)",
        "parsed 1st", "repairs / challenges", "no-change", "s/call", "tokens/run p+c"]


def print_table(model: Model, records: Sequence[dict[str, Any]], tasks: Sequence[str]) -> None:
    rows = []
    for task in tasks:
        plan = PLANS[task]
        for label in [plan.label] + [b for b, _ in plan.baselines]:
            runs = [r for r in records if r["task"] == task and r["optimizer"] == label]
            if runs:
                rows.append(row(task, label, runs))
    print(f"Real-model benchmark: {model.name}" + (f" at {model.api_base}" if model.api_base else "")
          + f", structured output {model.structured_output}"
          + f", temperature {model.temperature}, a run's requests seeded with its seed, seed + 1, ... in order; "
            "baselines get the evaluations of the LLM run of the same seed")
    widths = [max(len(x) for x in col) for col in zip(HEAD, *rows)]
    for line in [HEAD, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
    print("numeric: f, lower is better; code_repair: share of unit tests passed; prompt_qa: exact match; "
          "design3d: drag in N, lower is better. Repairs are summed over seeds; parsed 1st and no-change are "
          "shares of all first replies and proposals; s/call is the median over all calls.")
    for task in tasks:
        if PLANS[task].note:
            print(f"{task}: {PLANS[task].note}")


# -- entry point --------------------------------------------------------------------------------


def model_from(args: argparse.Namespace) -> Model | None:
    """The model from the flags, else the environment; None when neither names one."""
    name = (args.model or os.environ.get(ENV_MODEL, "")).strip()
    if name.lower() in ("", "none", "off", "0", "false"):
        return None
    timeout = args.timeout if args.timeout is not None else float(os.environ.get(ENV_TIMEOUT) or 600)
    structured = {"true": True, "false": False, "auto": "auto"}[
        (args.structured_output or os.environ.get(ENV_MODEL + "_STRUCTURED_OUTPUT") or "auto").strip().lower()]
    return Model(name, args.api_base or os.environ.get(ENV_API_BASE) or None, timeout, args.temperature, structured)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help=f"model string, e.g. openai/local (default ${ENV_MODEL})")
    parser.add_argument("--api-base", help=f"base URL of an OpenAI-compatible server (default ${ENV_API_BASE})")
    parser.add_argument("--timeout", type=float, help=f"seconds per call (default ${ENV_TIMEOUT}, else 600)")
    parser.add_argument("--tasks", default=",".join(PLANS), help=f"comma-separated subset of {','.join(PLANS)}")
    parser.add_argument("--seeds", type=int, help="seeds per task (default 3 for numeric and code_repair, else 1)")
    parser.add_argument("--seed-list", type=lambda text: [int(x) for x in text.split(",")],
                        help="run these seeds only, e.g. 1,2 (one server per seed list runs them side by side)")
    parser.add_argument("--max-steps", type=int, default=8, help="OptoPrime steps per run (default 8)")
    parser.add_argument("--design3d-calls", type=int, default=10, help="LLM operator calls for design3d (default 10)")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--structured-output", choices=["true", "false", "auto"],
                        help=f"send the JSON reply's schema as native structured output (default "
                             f"${ENV_MODEL}_STRUCTURED_OUTPUT, else auto: where the provider is known to take it)")
    parser.add_argument("--out", type=Path, help="JSON-lines file of per-run results, appended after each run")
    parser.add_argument("--resume-from", type=Path, help="a results file whose runs are not run again")
    args = parser.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in args.tasks if t not in PLANS]
    if unknown:
        parser.error(f"unknown tasks {unknown}; choose from {', '.join(PLANS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    model = model_from(args)
    if model is None:
        print(SKIPPED)
        return 0
    results = Results(args.out, args.resume_from)
    status = 0
    try:
        run_all(args, model, results)
    except KeyboardInterrupt:
        status = 130
        print("interrupted" + (f"; finished runs are in {args.out}: continue with --resume-from {args.out}"
                               if args.out else ""), file=sys.stderr)
    except TraceTuneError as e:
        status = 1
        print(f"error: {type(e).__name__}: {e}" + (f"\nfinished runs are in {args.out}; continue with "
                                                   f"--resume-from {args.out}" if args.out else ""), file=sys.stderr)
    print_table(model, results.records, args.tasks)
    return status


if __name__ == "__main__":
    sys.exit(main())
