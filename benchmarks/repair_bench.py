"""OptoPrime's reply handling on 1,000 corrupted replies.

Each case is a ScriptedLLM conversation: a corrupted first reply (truncated JSON,
prose around JSON, wrong keys, wrong types, out-of-range values, code that does
not parse), then repair replies that are valid with probability 0.7 (else
corrupted again). We count crashes (exceptions out of ``propose``/``apply``),
invalid values applied, replies used without a repair, repairs that succeeded,
and proposals that gave up as "no change". Baseline, same replies: the naive
handling (``json.loads`` then assign the suggestion as is).
Targets: 0 crashes and 0 invalid values applied.

Run: ``python benchmarks/repair_bench.py [--cases 1000] [--seed 0]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel  # noqa: E402

from optimizers.optoprime import OptoPrime  # noqa: E402
from trace_core import Parameter, backward, node  # noqa: E402
from trace_core.errors import InvalidProposal  # noqa: E402
from trace_core.llm import ScriptedLLM  # noqa: E402
from trace_core.spaces import Choice, Code, Float, Int, Json, Text  # noqa: E402


class Arch(BaseModel):
    width: int
    depth: int = 2


def parameters() -> list[Parameter]:
    return [
        Parameter(1.0, name="lr", space=Float(1e-4, 1.0, log=True)),
        Parameter(8, name="layers", space=Int(1, 32)),
        Parameter("Answer briefly.", name="prompt", space=Text(max_chars=200)),
        Parameter("relu", name="act", space=Choice(["relu", "tanh", "gelu"])),
        Parameter("def f(a, b):\n    return a + b\n", name="f", space=Code(name="f", args=["a", "b"])),
        Parameter(Arch(width=16), name="arch", space=Json(Arch)),
    ]


def valid_values(rng: random.Random) -> dict:
    pool = {
        "lr": round(10 ** rng.uniform(-4, 0), 6),
        "layers": rng.randint(1, 32),
        "prompt": rng.choice(["Think step by step.", "Answer with one word.", "Be precise and brief."]),
        "act": rng.choice(["tanh", "gelu"]),
        "f": rng.choice(["def f(a, b):\n    return a * b\n", "def f(a, b):\n    return max(a, b)\n"]),
        "arch": {"width": rng.choice([32, 64]), "depth": rng.randint(1, 6)},
    }
    names = rng.sample(sorted(pool), rng.randint(1, 3))
    return {n: pool[n] for n in names}


def reply(values: dict) -> str:
    return json.dumps({"reasoning": "this should help", "suggestion": values, "no_change": False})


def corrupt(kind: str, values: dict, rng: random.Random) -> str:
    text = reply(values)
    if kind == "truncated":
        return text[: rng.randint(1, len(text) - 2)]
    if kind == "prose":
        return rng.choice(["Sure! ", "Here is my proposal:\n```json\n", "I think "]) + text + rng.choice(
            ["", "\n```", "\nLet me know how it goes."])
    if kind == "wrong_keys":
        data = json.loads(text)
        choice = rng.randrange(3)
        if choice == 0:
            data["changes"] = data.pop("suggestion")
        elif choice == 1:
            data["suggestion"] = {k.upper() + "_x": v for k, v in values.items()}
        else:
            data["suggestion"]["learning_rate"] = 0.1
        return json.dumps(data)
    if kind == "wrong_types":
        bad = {"lr": "fast", "layers": 3.5, "prompt": 42, "act": ["relu"], "f": {"code": "x"}, "arch": "wide"}
        name = rng.choice(sorted(bad))
        return reply({**values, name: bad[name]})
    if kind == "out_of_range":
        bad = {"lr": 5.0, "layers": 500, "prompt": "x" * 300, "act": "sigmoid", "arch": {"width": -1.5}}
        name = rng.choice(sorted(bad))
        return reply({**values, name: bad[name]})
    if kind == "bad_code":
        code = rng.choice(["def f(a, b) return a", "def f(a, b):\nreturn a", "def g(a, b):\n    return a\n",
                           "def f(a):\n    return a\n", "f = lambda a, b: a"])
        return reply({**values, "f": code})
    raise ValueError(kind)


KINDS = ("truncated", "prose", "wrong_keys", "wrong_types", "out_of_range", "bad_code")


def naive(text: str, params: dict[str, Parameter]) -> tuple[bool, bool]:
    """(crashed, applied an invalid value) for json.loads + direct assignment."""
    try:
        suggestion = json.loads(text)["suggestion"]
        invalid = False
        for name, value in suggestion.items():
            try:
                params[name].space.validate(value)
            except InvalidProposal:
                invalid = True
            params[name]._value = value  # what a naive optimizer does
        return False, invalid
    except Exception:  # noqa: BLE001 - counting crashes
        return True, False


def run_case(kind: str, rng: random.Random, max_repairs: int) -> dict:
    params = parameters()
    intended = valid_values(rng)
    script = [corrupt(kind, intended, rng)]
    for _ in range(max_repairs):
        script.append(reply(intended) if rng.random() < 0.7 else corrupt(rng.choice(KINDS), intended, rng))
    opt = OptoPrime(params, ScriptedLLM(script), max_repairs=max_repairs)
    result = backward(params[0] * node(2.0), "the loss is too high")
    out = {"crash": False, "invalid": False, "repairs": 0, "outcome": "gave up"}
    t0 = time.perf_counter()
    try:
        update = opt.propose(result)[0]
        opt.apply(update)
    except Exception as e:  # noqa: BLE001 - counting crashes
        out.update(crash=True, outcome=f"crash: {type(e).__name__}")
        return out
    out["ms"] = 1000 * (time.perf_counter() - t0)
    clean = opt.validate(intended)
    for name, value in update.values.items():
        if name not in clean or value != clean[name]:
            out["invalid"] = True
    for p in params:
        try:
            p.space.validate(p.value)
        except InvalidProposal:
            out["invalid"] = True
    out["repairs"] = update.meta["repairs"]
    if not update.no_change or "error" not in update.meta:
        out["outcome"] = "no repair needed" if out["repairs"] == 0 else "repaired"
    naive_crash, naive_invalid = naive(script[0], {p.name: p for p in parameters()})
    out.update(naive_crash=naive_crash, naive_invalid=naive_invalid)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-repairs", type=int, default=2)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows: dict[str, list[dict]] = defaultdict(list)
    for i in range(args.cases):
        kind = KINDS[i % len(KINDS)]
        rows[kind].append(run_case(kind, rng, args.max_repairs))
    print(f"OptoPrime reply handling: {args.cases} corrupted first replies, max_repairs={args.max_repairs}, "
          "later replies valid with p=0.7")
    head = (f"{'kind':13} {'cases':>5} {'crash':>5} {'invalid':>7} {'no repair':>9} {'repaired':>8} {'gave up':>7} "
            f"{'med ms':>6} | {'naive crash':>11} {'naive invalid':>13}")
    print(head)
    print("-" * len(head))
    total = defaultdict(int)
    all_ms = []
    for kind in KINDS:
        r = rows[kind]
        c = {
            "cases": len(r),
            "crash": sum(x["crash"] for x in r),
            "invalid": sum(x["invalid"] for x in r),
            "no repair": sum(x["outcome"] == "no repair needed" for x in r),
            "repaired": sum(x["outcome"] == "repaired" for x in r),
            "gave up": sum(x["outcome"] == "gave up" for x in r),
            "naive crash": sum(x.get("naive_crash", False) for x in r),
            "naive invalid": sum(x.get("naive_invalid", False) for x in r),
        }
        ms = [x["ms"] for x in r if "ms" in x]
        all_ms += ms
        for k, v in c.items():
            total[k] += v
        print(f"{kind:13} {c['cases']:>5} {c['crash']:>5} {c['invalid']:>7} {c['no repair']:>9} {c['repaired']:>8} "
              f"{c['gave up']:>7} {statistics.median(ms):>6.2f} | {c['naive crash']:>11} {c['naive invalid']:>13}")
    print("-" * len(head))
    print(f"{'total':13} {total['cases']:>5} {total['crash']:>5} {total['invalid']:>7} {total['no repair']:>9} "
          f"{total['repaired']:>8} {total['gave up']:>7} {statistics.median(all_ms):>6.2f} | "
          f"{total['naive crash']:>11} {total['naive invalid']:>13}")
    needing = total["cases"] - total["no repair"]
    print(f"\nrepairs that succeeded: {total['repaired']} of {needing} replies that needed one "
          f"({100 * total['repaired'] / max(1, needing):.1f} %); crashes {total['crash']}, invalid applied "
          f"{total['invalid']} (naive: {total['naive crash']} crashes, {total['naive invalid']} invalid applied)")


if __name__ == "__main__":
    main()
