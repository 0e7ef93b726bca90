"""OptoPrime's prompt size and build time for a parameter feeding 10 .. 10,000 nodes.

For each graph shape and size: the prompt's tokens (litellm's ``token_counter``,
gpt-4o) and the time of ``propose`` with a ScriptedLLM (no model time), against
a baseline measured in the same run: the same renderer without a budget (every
node, whole values), which is what an unbounded OptoPrime sends.
Targets: 1,000 and 10,000 nodes under 8,000 tokens and 100 ms; 10 nodes <= ~1,000 tokens.

Run: ``python benchmarks/prompt_bench.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizers.optoprime import OptoPrime  # noqa: E402
from optimizers.optoprime.format import estimate_tokens  # noqa: E402
from trace_core import Feedback, Parameter, backward, bundle, node  # noqa: E402
from trace_core.llm import ScriptedLLM  # noqa: E402
from trace_core.spaces import Float  # noqa: E402

SIZES = (10, 100, 1_000, 10_000)
REPLY = json.dumps({"reasoning": "scale down", "suggestion": {"w": 0.5}, "no_change": False})


@bundle
def total(xs):
    """Sums the list of partial results."""
    return sum(xs)


def fanout(n: int):
    """w feeds n - 1 products, summed by one bundle."""
    w = Parameter(1.0, name="w", space=Float(0, 10), description="the weight")
    return w, total([w * node(i * 0.5) for i in range(n - 1)])


def chain(n: int):
    """w through n alternating multiply/add ops."""
    w = Parameter(1.0, name="w", space=Float(0, 10), description="the weight")
    x = w
    for i in range(n // 2):
        x = x * 1.001 + node(float(i))
    return w, x


def mixed(n: int):
    """n random ops (add, mul, sub, abs) over the 20 latest nodes; the last 50 summed."""
    rng = random.Random(0)
    w = Parameter(1.0, name="w", space=Float(0, 10), description="the weight")
    xs = [w]
    for _ in range(n - 1):
        a = rng.choice(xs[-20:])
        k = rng.randrange(4)
        xs.append(a + node(1.0) if k == 0 else a * node(0.99) if k == 1 else a - xs[-1] if k == 2 else abs(a))
    return w, total(xs[-50:])


def measure(shape, n: int, budget: int, repeats: int, counter) -> dict:
    w, out = shape(n)
    result = backward(out, Feedback(score=float(out.value), text="the total is too large; it should be near 0"))
    opt = OptoPrime([w], ScriptedLLM([REPLY] * repeats), token_budget=budget, direction="minimize")
    messages, info = opt.messages(result)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        update = opt.propose(result)[0]
        times.append(time.perf_counter() - t0)
        assert update.values == {"w": 0.5}
    return {"nodes": len(result.graph.order), "tokens": counter(messages), "estimate": info["prompt_tokens_estimate"],
            "level": info["prompt_level"], "ms": 1000 * statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=int, default=8000)
    args = parser.parse_args()
    import litellm

    def counter(messages):
        return litellm.token_counter(model="gpt-4o", messages=messages)

    counter([{"role": "user", "content": "warm up"}])
    print(f"OptoPrime prompt: tokens (litellm, gpt-4o) and propose() time (ScriptedLLM; median of {args.repeats})")
    print(f"baseline = same renderer, no budget (every node, whole values); budget = {args.budget} tokens\n")
    head = (f"{'shape':7} {'size':>6} {'graph':>6} {'tokens':>7} {'est.':>6} {'lvl':>3} {'ms':>7} | "
            f"{'base tok':>9} {'base ms':>8} | {'tok ratio':>9} {'<budget':>7} {'<100ms':>6}")
    print(head)
    print("-" * len(head))
    for shape in (fanout, chain, mixed):
        for n in SIZES:
            ours = measure(shape, n, args.budget, args.repeats, counter)
            base = measure(shape, n, 10**9, max(1, min(args.repeats, 3)), counter)
            print(f"{shape.__name__:7} {n:>6,} {ours['nodes']:>6,} {ours['tokens']:>7,} {ours['estimate']:>6,} "
                  f"{ours['level']:>3} {ours['ms']:>7.1f} | {base['tokens']:>9,} {base['ms']:>8.1f} | "
                  f"{ours['tokens'] / base['tokens']:>9.3f} {str(ours['tokens'] <= args.budget):>7} "
                  f"{str(ours['ms'] < 100):>6}")
    sample = "add0 = w + 1.0\nmul1 = add0 * 0.99\n" * 50 + "the total is too large; it should be near 0 " * 20
    real = litellm.token_counter(model="gpt-4o", text=sample)
    print(f"\nestimator check on a mixed sample: estimate {estimate_tokens(sample)} vs litellm {real}")


if __name__ == "__main__":
    main()
