"""Benchmark of the preference task (DPO / IPO / SimPO / SRPO on a tiny LM).

Three cases, each printing a table:

- ``throughput``: pairs/s and peak memory of our trainer's preference phase for
  each loss, beside a plain-torch DPO loop on the same model and data measured in
  the same run (target: our DPO within 10% of it). Every measurement runs in a
  fresh subprocess (so peak RSS is its own); medians over ``--repeats``.
  ``--device cuda`` runs it on a GPU under bf16 autocast (peak memory is then
  ``torch.cuda.max_memory_allocated``).
- ``accuracy``: held-out exact match, preference accuracy and reward margin of
  DPO, IPO, SimPO and SRPO at equal steps after the same warm-up, over seeds
  (median and range).
- ``tune``: a ``--trials``-trial Search (Optuna TPE) tune of the task through
  ``agents.optimize``, against the default hyperparameters; the best values and
  the defaults are then re-run on more seeds and scored on the test split too.

Run: ``PYTHONPATH=. python benchmarks/preference_bench.py`` (about 10-15 minutes
on one CPU core); ``--cases throughput --device cuda`` for the GPU figures;
``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from tasks.preference.batching import encode_pairs  # noqa: E402
from tasks.preference.data import make_splits  # noqa: E402
from tasks.preference.losses import PAIR_SEQUENCES  # noqa: E402
from tasks.preference.model import ModelConfig, TinyLM, autocast_for  # noqa: E402
from tasks.preference.tokenizer import CharTokenizer  # noqa: E402
from tasks.preference.trainer import TrainConfig, Trainer  # noqa: E402

LOSS_BETA = {"dpo": 0.1, "ipo": 0.1, "simpo": 2.0, "srpo": 0.1}


# -- throughput -------------------------------------------------------------------------------
def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _plain_dpo(device: torch.device, steps: int, batch_size: int, beta: float = 0.1) -> float:
    """A straightforward DPO loop on the same model and data; returns pairs/s."""
    tok = CharTokenizer()
    data = encode_pairs(make_splits().train, tok, PAIR_SEQUENCES)
    ids, mask = data.ids.to(device), data.loss_mask.to(device)
    model = TinyLM(ModelConfig(vocab_size=tok.vocab_size), seed=0).to(device)

    def logps(m: torch.nn.Module, x: torch.Tensor, msk: torch.Tensor) -> torch.Tensor:
        flat, fm = x.flatten(0, 1), msk.flatten(0, 1)
        with autocast_for(device):
            logits = m(flat)[:, :-1].float()
        lp = torch.gather(logits.log_softmax(-1), 2, flat[:, 1:, None]).squeeze(-1)
        return (lp * fm[:, 1:]).sum(-1).view(-1, 2)

    with torch.no_grad():
        reference = torch.cat([logps(model, ids[i : i + 1024], mask[i : i + 1024]) for i in range(0, len(ids), 1024)])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    _reset_peak(device)
    t0 = time.perf_counter()
    for step in range(steps):
        g = torch.Generator().manual_seed(step)
        idx = torch.randint(len(ids), (batch_size,), generator=g).to(device)
        pol, ref = logps(model, ids[idx], mask[idx]), reference[idx]
        loss = -F.logsigmoid(beta * ((pol[:, 0] - ref[:, 0]) - (pol[:, 1] - ref[:, 1]))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    float(loss)  # wait for the device
    return steps * batch_size / (time.perf_counter() - t0)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _ours(loss: str, device: torch.device, steps: int, batch_size: int) -> float:
    cfg = TrainConfig(loss=loss, beta=LOSS_BETA[loss], steps=steps, batch_size=batch_size, warmup_steps=0,
                      eval_every=0, revisions=0, device=str(device))  # fmt: skip
    trainer = Trainer(cfg, make_splits())
    trainer.warm_up()
    _reset_peak(device)
    return trainer.train(final_eval=False).pairs_per_second


def throughput_worker(spec: str, device: str, steps: int, batch_size: int) -> dict[str, float]:
    """One measurement in this process: ``spec`` is ``plain:dpo`` or ``ours:<loss>``."""
    torch.set_num_threads(1)
    dev = torch.device(device)
    impl, loss = spec.split(":")
    before = _rss_mib()
    pps = _plain_dpo(dev, steps, batch_size) if impl == "plain" else _ours(loss, dev, steps, batch_size)
    return {"pairs_per_second": pps, "peak_mib": _peak_mib(dev), "rss_before_mib": before}


def throughput(args: argparse.Namespace) -> None:
    specs = ["plain:dpo"] + [f"ours:{loss}" for loss in ("dpo", "ipo", "simpo", "srpo")]
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in specs}
    for _ in range(args.repeats):
        for spec in specs:  # interleaved, so drifts in machine load hit every case alike
            cmd = [sys.executable, __file__, "--worker", spec, "--device", args.device, "--steps", str(args.steps),
                   "--batch-size", str(args.batch_size)]  # fmt: skip
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
            runs[spec].append(json.loads(out.strip().splitlines()[-1]))
    base = statistics.median(r["pairs_per_second"] for r in runs["plain:dpo"])
    mem_kind = "peak CUDA MiB" if args.device == "cuda" else "peak RSS MiB"
    print(f"\n## throughput ({args.device}{', bf16' if args.device == 'cuda' else ''}; batch {args.batch_size}, "
          f"{args.steps} steps, median of {args.repeats} runs)")  # fmt: skip
    print(f"| trainer | loss | sequences/pair | pairs/s (median) | min..max | vs plain DPO | {mem_kind} "
          "| Δ over start MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in specs:
        pps = [r["pairs_per_second"] for r in runs[spec]]
        mem = statistics.median(r["peak_mib"] for r in runs[spec])
        start = (lambda r: 0.0) if args.device == "cuda" else (lambda r: r["rss_before_mib"])
        delta = statistics.median(r["peak_mib"] - start(r) for r in runs[spec])
        impl, loss = spec.split(":")
        seqs = 6 if loss == "srpo" else 2
        print(f"| {'plain torch' if impl == 'plain' else 'ours'} | {loss} | {seqs} | {statistics.median(pps):.0f} | "
              f"{min(pps):.0f}..{max(pps):.0f} | {statistics.median(pps) / base:.2f}x | {mem:.0f} | "
              f"{delta:.0f} |")  # fmt: skip


# -- accuracy at equal steps -------------------------------------------------------------------
def _spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.3f} [{min(xs):.3f}-{max(xs):.3f}]"


def _run_losses(args: argparse.Namespace, losses: tuple[str, ...], **extra: Any) -> dict[str, list[dict[str, Any]]]:
    """Train each loss on each seed from one shared warm-up per seed; final metrics per run."""
    splits = make_splits()
    rows: dict[str, list[dict[str, Any]]] = {loss: [] for loss in ("reference", *losses)}
    for seed in args.seeds:
        warm = None
        for loss in losses:
            cfg = TrainConfig(loss=loss, beta=LOSS_BETA[loss], seed=seed, steps=args.pref_steps, eval_every=0, **extra)
            trainer = Trainer(cfg, splits, warm_start=warm)
            t0 = time.perf_counter()
            trainer.warm_up()
            warm = warm or {k: v.clone() for k, v in trainer.model.state_dict().items()}
            result = trainer.train()
            val, test = result.final["val"], result.final["test"]
            rows[loss].append({"val": val["exact_match"], "test": test["exact_match"],
                               "pref": val["preference_accuracy"], "margin": val["reward_margin"],
                               "revised": val["revision_accuracy"], "seconds": time.perf_counter() - t0})  # fmt: skip
            if len(rows["reference"]) < len(rows[loss]):
                rows["reference"].append({"val": val["reference_exact_match"], "test": test["reference_exact_match"]})
    return rows


def accuracy(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    losses = ("dpo", "ipo", "simpo", "srpo")
    rows = _run_losses(args, losses, warmup_steps=args.warmup_steps)
    print(f"\n## held-out accuracy at equal steps ({args.warmup_steps} warm-up + {args.pref_steps} preference steps, "
          f"batch 32, lr 1e-4; seeds {list(args.seeds)}; median [min-max])")  # fmt: skip
    print("| loss | β | val exact match | test exact match | val pref. acc. | reward margin (nats) | s/run |")
    print("|---|---|---|---|---|---|---|")
    ref = rows["reference"]
    print(f"| reference (warm-up only) | - | {_spread([r['val'] for r in ref])} | {_spread([r['test'] for r in ref])} "
          "| - | - | - |")
    for loss in losses:
        r = rows[loss]
        print(f"| {loss} | {LOSS_BETA[loss]:g} | {_spread([x['val'] for x in r])} | "
              f"{_spread([x['test'] for x in r])} | "
              f"{_spread([x['pref'] for x in r])} | {statistics.median(x['margin'] for x in r):.2f} | "
              f"{statistics.median(x['seconds'] for x in r):.1f} |")  # fmt: skip
    # self-revision needs the revision format in the warm-up (SRPO's inference: answer, then revise)
    steps = args.warmup_steps * 8 // 5
    rev = _run_losses(args, ("dpo", "srpo"), warmup_steps=steps, warmup_revisions=True)
    print(f"\n## self-revision (warm-up of {steps} steps that includes the revision format; validation exact match "
          "after 0 / 1 / 2 self-revisions; median [min-max])")  # fmt: skip
    print("| loss | 0 revisions | 1 revision | 2 revisions |")
    print("|---|---|---|---|")
    print(f"| reference (warm-up only) | {_spread([r['val'] for r in rev['reference']])} | - | - |")
    for loss in ("dpo", "srpo"):
        cells = [_spread([x["revised"][i] for x in rev[loss]]) for i in range(3)]
        print(f"| {loss} | " + " | ".join(cells) + " |")


# -- a Search tune against the defaults -------------------------------------------------------
def tune(args: argparse.Namespace) -> None:
    try:
        from agents import optimize
        from optimizers import Search
    except ImportError as e:  # the loop or Search is not there yet
        print(f"\n## tune: skipped ({e}); it needs agents.optimize and optimizers.Search")
        return
    from tasks.preference.task import PreferenceTask, default_config
    from trace_core import Budget, using

    task = PreferenceTask()
    search = Search(task.parameters(), sampler="tpe", seed=0)
    search.needs_trace = False  # Search reads no trace: skip the loop's forward pass (a whole training run)
    t0 = time.perf_counter()
    result = optimize(task, optimizer=search, budget=Budget(max_evaluations=args.trials + 1), store="sqlite://",
                      executor="serial", minibatch=None)  # fmt: skip
    tune_s = time.perf_counter() - t0
    scores = [s for rec in result.history[1:] for s in rec.candidate_scores]
    failed = sum(s is None for s in scores)
    print(f"\n## Search (TPE) tune: {len(scores)} trials in {tune_s / 60:.1f} min, {failed} failed or pruned")
    print(f"defaults: {default_config()}")
    print(f"best:     { {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.best_values.items()} }")
    print(f"validation exact match (seed 0, what the tune maximized): defaults {result.initial_score:.3f}, "
          f"best {result.best_score:.3f}")
    print("\nre-run on seeds " + ", ".join(map(str, args.seeds)) + " (median [min-max]):")
    print("| values | val exact match | test exact match | s/run |")
    print("|---|---|---|---|")
    for label, values in (("defaults", default_config()), ("tuned", result.best_values)):
        val, test, secs = [], [], []
        for seed in args.seeds:
            t1 = time.perf_counter()
            with using(values):
                fb = task.evaluate(seed, task.run(seed))
            secs.append(time.perf_counter() - t1)
            val.append(fb.metrics.get("exact_match", 0.0) if not fb.failed else 0.0)
            test.append(fb.metrics.get("test_exact_match", 0.0) if not fb.failed else 0.0)
        print(f"| {label} | {_spread(val)} | {_spread(test)} | {statistics.median(secs):.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default="throughput,accuracy,tune")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="for the throughput case")
    p.add_argument("--steps", type=int, default=200, help="timed preference steps per throughput run")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--warmup-steps", type=int, default=500)
    p.add_argument("--pref-steps", type=int, default=150)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="tiny sizes, to check the script runs")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(throughput_worker(args.worker, args.device, args.steps, args.batch_size)))
        return
    if args.quick:
        args.steps, args.repeats, args.seeds, args.trials = 20, 1, [0], 2
        args.warmup_steps, args.pref_steps = 50, 20
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device for throughput: {args.device}")
    t0 = time.perf_counter()
    for case in args.cases.split(","):
        {"throughput": throughput, "accuracy": accuracy, "tune": tune}[case.strip()](args)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
