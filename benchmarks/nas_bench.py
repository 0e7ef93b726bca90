"""NAS benchmarks on digits: Search (TPE) against random search, and an OptoPrime run.

Cases (``--case``, default both):

- ``search``: the ``nas`` task (Json architecture, 10 training epochs) on digits,
  20 evaluations x 3 seeds, TPE against random sampling; best validation accuracy, the
  best architecture's parameter count and latency, failures.
- ``optoprime``: code mode (``build()`` source) with OptoPrime and a scripted LLM that
  proposes a few hand-written architectures, one of them broken, to show the path works
  (the broken one must come back as a scored failure); its score is no claim.

Run: ``PYTHONPATH=. python benchmarks/nas_bench.py [--quick] [--max-params N] [--device cuda]``.
Medians with [min, max] over seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hpo_bench import optimize_with, search, spread, table  # noqa: E402

BUILDS = {
    "one wide layer": """def build(in_features, n_classes):
    return nn.Sequential(nn.Linear(in_features, 256), nn.ReLU(), nn.Linear(256, n_classes))
""",
    "widths do not match (broken on purpose)": """def build(in_features, n_classes):
    return nn.Sequential(nn.Linear(in_features, 128), nn.ReLU(), nn.Linear(64, n_classes))
""",
    "two layers with batch norm": """def build(in_features, n_classes):
    return nn.Sequential(
        nn.Linear(in_features, 128), nn.BatchNorm1d(128), nn.GELU(),
        nn.Linear(128, 128), nn.BatchNorm1d(128), nn.GELU(), nn.Dropout(0.1),
        nn.Linear(128, n_classes),
    )
""",
    "residual blocks (a class)": """def build(in_features, n_classes):
    class Residual(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(width, width), nn.LayerNorm(width), nn.SiLU())

        def forward(self, x):
            return x + self.body(x)

    return nn.Sequential(nn.Linear(in_features, 128), nn.SiLU(), Residual(128), Residual(128),
                         nn.Linear(128, n_classes))
""",
}


def case_search(seeds: int, evals: int, max_params: int | None, device: str) -> None:
    from tasks.nas import NASTask

    rows = []
    for sampler in ("tpe", "random"):
        best, params, latency, failed, secs = [], [], [], [], []
        for seed in range(seeds):
            task = NASTask("digits", max_params=max_params, device=device)
            opt = search(task.parameters(), sampler, seed, pruner="none")
            res, sec = optimize_with(task, opt, evals, seed)
            fb = task.evaluate(0, _run_with(task, res.best_values))
            best.append(res.best_score)
            params.append(fb.metrics.get("n_params", float("nan")))
            latency.append(fb.metrics.get("latency_ms", float("nan")))
            failed.append(sum(t.state.name == "FAIL" for t in opt.study.trials))
            secs.append(sec)
        rows.append([sampler, spread(best), spread(params, "{:.0f}"), spread(latency, "{:.3f}"),
                     spread(failed, "{:.0f}"), spread(secs, "{:.1f}")])
    limit = "" if max_params is None else f", max_params={max_params:,}"
    table(f"NAS on digits, {evals} evaluations x {seeds} seeds{limit} (median [min, max])",
          ["sampler", "best val_acc", "best's params", "best's latency ms/256", "failed trials", "seconds"], rows)


def _run_with(task: Any, values: dict[str, Any]) -> Any:
    from trace_core import no_trace, using

    with using(values), no_trace():
        return task.run(0)


def case_optoprime(device: str) -> None:
    from optimizers.optoprime import OptoPrime
    from tasks.nas import NASTask
    from trace_core.llm import ScriptedLLM

    task = NASTask("digits", mode="code", device=device)
    replies = [json.dumps({"reasoning": why, "suggestion": {"architecture": code}, "no_change": False})
               for why, code in BUILDS.items()]
    llm = ScriptedLLM(replies)
    res, sec = optimize_with(task, OptoPrime(task.parameters(), llm, memory=4), len(BUILDS) + 1, 0)
    rows = [[h.step, "start" if h.step == 0 else list(BUILDS)[h.step - 1],
             " / ".join("failed" if s is None else f"{s:.4f}" for s in h.candidate_scores),
             "yes" if h.accepted else "no"] for h in res.history]
    table(f"OptoPrime + scripted LLM, NAS code mode on digits ({sec:.1f}s; the path, not a claim)",
          ["step", "proposal", "val_acc", "accepted"], rows)
    told = any("previous layer's output width" in c[-1]["content"] for c in llm.calls)
    print(f"LLM calls: {len(llm.calls)}; the broken proposal's reason reached a later prompt: {told}; "
          f"best {res.best_score:.4f} vs start {res.initial_score:.4f}")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", action="append", choices=["search", "optoprime"])
    ap.add_argument("--quick", action="store_true", help="fewer seeds and evaluations (a smoke run)")
    ap.add_argument("--max-params", type=int, default=None, help="parameter-count limit of the search case")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args(argv)
    cases = args.case or ["search", "optoprime"]
    started = time.perf_counter()
    if "search" in cases:
        case_search(seeds=1 if args.quick else 3, evals=6 if args.quick else 20, max_params=args.max_params,
                    device=args.device)
    if "optoprime" in cases:
        case_optoprime(args.device)
    print(f"\ntotal {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
