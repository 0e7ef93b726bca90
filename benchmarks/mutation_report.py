"""Mutation score of the core, the reply parser and the run store.

Each file is mutated with mutmut (pinned in the ``mutation`` extra) in a scratch copy of
the project and run only against the tests that own it (``OWNERS`` below), with one
worker. The mutants that cannot change behaviour are listed, each with its reason, in
the "Equivalent mutants" table of ``docs/testing.md``; they are left out of the score.
Prints one row per file: killed, mutants (equivalents excluded) and the score.

Run: ``make mutation`` or
``python benchmarks/mutation_report.py [FILE ...] [--sample N] [--keep]``.
``--sample N`` runs N mutants per file drawn with a fixed seed (for a quick look at a
large file). The changed lines of every surviving mutant are printed as it is reported.
Not part of ``make test`` or CI: a full run takes tens of minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# file (or package folder) -> the test files that own it
OWNERS: dict[str, list[str]] = {
    "trace_core/node.py": ["tests/trace_core/test_node_ops.py", "tests/trace_core/test_node_basics.py"],
    "trace_core/backward.py": [
        "tests/trace_core/test_backward_graphs.py",
        "tests/trace_core/test_backward_helpers.py",
    ],
    "trace_core/spaces.py": ["tests/trace_core/test_spaces_validation.py", "tests/trace_core/test_space_bounds.py"],
    "trace_core/budget.py": ["tests/trace_core/test_budget_feedback.py", "tests/trace_core/test_budget_bounds.py"],
    "trace_core/bundle.py": [
        "tests/trace_core/test_bundle_ops.py",
        "tests/trace_core/test_bundle_edge_cases.py",
        "tests/trace_core/test_trainable_code.py",
    ],
    "trace_core/llm/cache.py": [
        "tests/trace_core/llm/test_llm_middleware.py",
        "tests/trace_core/llm/test_llm_bounds.py",
        "tests/trace_core/llm/test_llm_cache_processes.py",
    ],
    "trace_core/llm/retry.py": ["tests/trace_core/llm/test_llm_middleware.py", "tests/trace_core/llm/test_llm_bounds.py"],
    "trace_core/llm/limit.py": ["tests/trace_core/llm/test_llm_middleware.py", "tests/trace_core/llm/test_llm_bounds.py"],
    "optimizers/_parse.py": ["tests/optimizers/test_reply.py", "tests/optimizers/test_parse_positions.py"],
    "optimizers/_reply.py": ["tests/optimizers/test_reply.py", "tests/optimizers/test_parse_positions.py"],
    "optimizers/base.py": ["tests/optimizers/test_contract.py", "tests/optimizers/test_optoprime.py"],
    "agents/store.py": [
        "tests/agents/test_loop.py",
        "tests/agents/test_resume.py",
        "tests/agents/test_store_tables.py",
        "tests/agents/test_resume_continuity.py",
    ],
    "agents/loop.py": [
        "tests/agents/test_loop.py",
        "tests/agents/test_lifecycle.py",
        "tests/agents/test_resume.py",
        "tests/agents/test_resume_continuity.py",
    ],
    "agents/_step.py": [
        "tests/agents/test_loop.py",
        "tests/agents/test_records.py",
        "tests/agents/test_run_failed.py",
        "tests/agents/test_resume_continuity.py",
    ],
    "optimizers/registry.py": ["tests/optimizers/test_optimizer_registry.py", "tests/test_plugin_example.py"],
    "trace_core/registry.py": ["tests/trace_core/test_plugin_registry.py"],
    "agents/jobs.py": ["tests/agents/test_jobs.py"],
}

SOURCES = ["trace_core", "optimizers", "agents", "tasks"]
ALSO_COPY = ["prompts", "examples"]
KILLED = {"killed", "timeout"}  # a mutant that hangs the tests is caught too


def equivalents(doc: Path = ROOT / "docs" / "testing.md") -> set[str]:
    """Mutant names listed in the "Equivalent mutants" table of ``docs/testing.md``."""
    if not doc.exists():
        return set()
    return set(re.findall(r"`([\w.ǁ]+__mutmut_\d+)`", doc.read_text("utf-8")))


def scratch_copy(target: str, tests: list[str]) -> Path:
    """A copy of the working tree whose pyproject tells mutmut what to mutate and test."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    work = Path(tempfile.mkdtemp(prefix="mutation-"))
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, work / name)
    pattern = target if target.endswith(".py") else target.rstrip("/") + "/*"
    config = {
        "source_paths": SOURCES,
        "only_mutate": [pattern],
        "also_copy": ALSO_COPY,
        "pytest_add_cli_args": ["-p", "no:randomly", "-q"],
        "pytest_add_cli_args_test_selection": tests,
    }
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in config.items()]
    with open(work / "pyproject.toml", "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return work


def mutmut(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH="", OMP_NUM_THREADS="1", LITELLM_LOCAL_MODEL_COST_MAP="True")
    cmd = [sys.executable, "-m", "mutmut", *args]
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)


def exit_codes(work: Path) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for meta in (work / "mutants").rglob("*.py.meta"):
        out.update(json.loads(meta.read_text("utf-8"))["exit_code_by_key"])
    return out


def measure(target: str, sample: int | None, seed: int) -> tuple[dict[str, str], Path]:
    """Run the mutants of ``target``; returns mutant name -> status, and the scratch folder."""
    from mutmut.stats import status_by_exit_code

    tests = [t for t in OWNERS[target] if (ROOT / t).exists()]
    work = scratch_copy(target, tests)
    names: list[str] = []
    if sample:
        # generate the mutants and the test map without running any mutant: a name
        # that matches nothing stops mutmut right after that
        mutmut(work, "run", "--max-children", "1", "no-such-mutant")
        everything = sorted(exit_codes(work))
        names = random.Random(seed).sample(everything, min(sample, len(everything)))
    done = mutmut(work, "run", "--max-children", "1", *names)
    codes = exit_codes(work)
    if done.returncode != 0 or not codes:
        raise RuntimeError(f"mutmut failed on {target} (scratch copy kept in {work}):\n{done.stdout[-3000:]}")
    if names:
        codes = {k: v for k, v in codes.items() if k in names}
    return {name: status_by_exit_code[code] for name, code in codes.items()}, work


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help=f"files to mutate (default: all of {len(OWNERS)})")
    ap.add_argument("--sample", type=int, help="run only N mutants per file, drawn with --seed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the scratch copies")
    args = ap.parse_args(argv)
    unknown = [f for f in args.files if f not in OWNERS]
    if unknown:
        ap.error(f"no owning tests listed for {unknown}; known files: {', '.join(OWNERS)}")
    skip = equivalents()
    rows = []
    for target in args.files or list(OWNERS):
        statuses, work = measure(target, args.sample, args.seed)
        counted = {k: s for k, s in statuses.items() if k not in skip}
        killed = sum(s in KILLED for s in counted.values())
        survivors = sorted(k for k, s in counted.items() if s not in KILLED)
        rows.append((target, killed, len(counted), len(statuses) - len(counted)))
        print(f"{target}: {killed}/{len(counted)} killed", file=sys.stderr, flush=True)
        for name in survivors:
            print(f"  survived ({counted[name]}): {name}", file=sys.stderr)
            for line in mutmut(work, "show", name).stdout.splitlines():
                if line[:1] in "-+" and line[:3] not in ("---", "+++"):
                    print(f"      {line.strip()}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    sampled = f" (sample of {args.sample} per file, seed {args.seed})" if args.sample else ""
    print(f"\nmutation score, equivalents excluded{sampled}\n")
    print("| file | killed | mutants | score | equivalent |")
    print("|---|---|---|---|---|")
    for target, killed, total, equiv in rows:
        score = f"{100 * killed / total:.0f} %" if total else "n/a"
        print(f"| `{target}` | {killed} | {total} | {score} | {equiv} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
