"""CLI start-up benchmark: how long ``tracetune --help``, ``tracetune tasks`` and
``tracetune list`` (against a store that holds runs) take, each in a fresh process,
beside baselines measured in the same run: a bare interpreter, ``import typer``, and
a two-command Typer app showing its help and running a command (what any Typer CLI pays:
Typer checks option values with pydantic).

Warm: bytecode is cached (``PYTHONDONTWRITEBYTECODE`` is dropped, as for an installed
package) and each command runs once untimed, then ``--runs`` times; the table gives the
median, min and max wall-clock seconds and the median CPU seconds (user + system) of the
process. A machine under other load stretches the wall-clock times, the baselines' too;
the CPU time is what the command costs on an idle machine, give or take the disk.

Run: python benchmarks/cli_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
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
        ("a two-command Typer app hello --name x", ["-c", TYPER_HELLO, "hello", "--name", "x"], None),
        ("tracetune --help", ["-c", TRACETUNE, "--help"], 0.5),
        ("tracetune tasks", ["-c", TRACETUNE, "tasks"], 2.0),
        ("tracetune list (store with runs)", ["-c", TRACETUNE, "list", "--store", str(store)], 1.0),
    ]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETUNE_") and k != "PYTHONDONTWRITEBYTECODE"}
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


def cpu_seconds() -> float:
    """User + system CPU seconds of the children waited for so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def time_command(args: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of ``runs`` runs (after one that warms the caches)."""
    env = environment()
    wall, cpu = [], []
    for i in range(runs + 1):
        cpu_before, start = cpu_seconds(), time.perf_counter()
        done = subprocess.run([sys.executable, *args], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        if i:
            wall.append(elapsed)
            cpu.append(cpu_seconds() - cpu_before)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command (default 5)")
    parser.add_argument("--store-runs", type=int, default=20, help="runs in the store tracetune list reads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "runs.db"
        make_store(store, args.store_runs)
        rows = [(name, *time_command(cmd, args.runs), target) for name, cmd, target in commands(store)]
    print(f"CLI start-up, warm, median of {args.runs} runs (seconds); Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print()
    print("| command | median | min | max | CPU (median) | target (median) |")
    print("|---|---|---|---|---|---|")
    for name, wall, cpu, target in rows:
        median = statistics.median(wall)
        goal = "baseline" if target is None else f"≤ {target:g} ({'met' if median <= target else 'NOT met'})"
        cells = [f"{median:.3f}", f"{min(wall):.3f}", f"{max(wall):.3f}", f"{statistics.median(cpu):.3f}", goal]
        print(f"| `{name}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
