"""CLI start-up benchmark: how long ``tracetune --help``, ``tracetune tasks`` and
``tracetune list`` (against a store that holds runs) take, each in a fresh process,
beside baselines measured in the same run: a bare interpreter, ``import typer``, and
``--help`` of a one-command Typer app (what any Typer CLI pays).

Warm: each command runs once untimed (the OS file cache and ``__pycache__`` are warm),
then ``--runs`` times; the table gives the median, min and max in seconds. A machine
under other load inflates every row, the baselines too: read the rows against them.

Run: python benchmarks/cli_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TYPER_HELLO = ("import typer\napp = typer.Typer(add_completion=False, rich_markup_mode=None)\n"
               "@app.command()\ndef hello(name: str = 'x') -> None:\n    print(name)\n"
               "@app.command()\ndef bye() -> None:\n    pass\napp()")
TRACETUNE = "import sys; sys.argv[0] = 'tracetune'; from agents.cli import main; main()"


def commands(store: Path) -> list[tuple[str, list[str], float | None]]:
    """(name, the interpreter's arguments, the target median in seconds or None for a baseline)."""
    return [
        ("python -c pass", ["-c", "pass"], None),
        ('python -c "import typer"', ["-c", "import typer"], None),
        ("a two-command Typer app --help", ["-c", TYPER_HELLO, "--help"], None),
        ("tracetune --help", ["-c", TRACETUNE, "--help"], 0.5),
        ("tracetune tasks", ["-c", TRACETUNE, "tasks"], 2.0),
        ("tracetune list (store with runs)", ["-c", TRACETUNE, "list", "--store", str(store)], 1.0),
    ]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETUNE_")}
    env.update(PYTHONPATH=str(ROOT), LITELLM_LOCAL_MODEL_COST_MAP="True", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


def make_store(path: Path, runs: int) -> None:
    """A SQLite store with ``runs`` short runs of the numeric task (made in a child process,
    so this process imports nothing it times)."""
    code = ("from agents import optimize\nfrom tasks.examples.numeric import NumericTask\n"
            "from trace_core import Budget\n"
            f"for seed in range({runs}):\n"
            "    optimize(NumericTask(), optimizer='search', budget=Budget(max_steps=3), seed=seed,\n"
            f"             store={str(path)!r}, name=f'numeric-{{seed}}')\n")
    subprocess.run([sys.executable, "-c", code], env=environment(), check=True, cwd=ROOT)


def time_command(args: list[str], runs: int) -> list[float]:
    env = environment()
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, *args], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        if i:  # the first run warms the caches
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command (default 5)")
    parser.add_argument("--store-runs", type=int, default=20, help="runs in the store tracetune list reads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "runs.db"
        make_store(store, args.store_runs)
        rows = [(name, time_command(cmd, args.runs), target) for name, cmd, target in commands(store)]
    print(f"CLI start-up, warm, median of {args.runs} runs (seconds); Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print()
    print("| command | median | min | max | target |")
    print("|---|---|---|---|---|")
    for name, times, target in rows:
        median = statistics.median(times)
        goal = "baseline" if target is None else f"≤ {target:g} ({'met' if median <= target else 'NOT met'})"
        print(f"| `{name}` | {median:.3f} | {min(times):.3f} | {max(times):.3f} | {goal} |")


if __name__ == "__main__":
    main()
