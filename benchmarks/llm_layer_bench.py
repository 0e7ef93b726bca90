"""Benchmark of the LLM layer against the loopback OpenAI-compatible server.

Prints one table, each figure beside a baseline measured in the same run (medians):

* our overhead per call, for the default ``LiteLLM`` (retry only) and the full stack
  (log, cache miss, budget, limit, retry); target <= 1 ms. Measured three ways: with
  ``litellm.completion`` stubbed to return a canned response (our code alone); as the
  call's time minus the time inside ``litellm.completion`` against the server (this
  includes waits for the GIL while litellm's background logging thread, started by
  each call, runs during our cache and log I/O); and whole calls beside bare litellm
  calls in alternating blocks (for information: on a shared machine its noise is
  larger than the target);
* litellm's own overhead over the bare ``openai`` client (for information);
* cache-hit latency of the full stack (target <= 1 ms);
* 32 concurrent calls (threads, then asyncio) through ``max_concurrency=8`` against a
  server that takes 20 ms per request: wall time beside the ideal (4 rounds of 20 ms),
  and the peak number of requests the server saw at once (must be <= 8);
* the requests the server saw under a 429/500 fault script beside what the retry
  policy allows (``attempts`` per call).

Run: ``.venv/bin/python benchmarks/llm_layer_bench.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from trace_core.llm import Budget, LiteLLM, LLMError, Retry  # noqa: E402
from trace_core.llm._litellm import import_litellm  # noqa: E402
from trace_core.testing import openai_server  # noqa: E402

KEY = "sk-bench-0123456789"
MODEL = "openai/loopback"


class TimedLiteLLM:
    """litellm with ``completion`` timed (the rest passes through)."""

    def __init__(self, litellm: Any) -> None:
        self._litellm, self.spent = litellm, 0.0

    def completion(self, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._litellm.completion(**kwargs)
        finally:
            self.spent += time.perf_counter() - t0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._litellm, name)


def median_ms(fn: Callable[[int], Any], n: int) -> float:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def overhead_ms(llm: LiteLLM, n: int, bare: Callable[[int], Any], block: int = 25) -> tuple[float, ...]:
    """Medians in ms of: our call, the bare call, and our call minus the time inside ``litellm.completion``.

    Our calls and bare calls run in alternating blocks of ``block`` back-to-back calls,
    so each side runs as it would in a loop (litellm's background logging thread
    included) and slow drifts of the machine hit both alike.
    """
    timed = TimedLiteLLM(llm.backend._litellm)
    llm.backend._litellm = timed
    totals: list[float] = []
    bares: list[float] = []
    ours: list[float] = []
    i = 0
    while len(totals) < n:
        for _ in range(block):
            i += 1
            t0 = time.perf_counter()
            bare(i)
            bares.append(time.perf_counter() - t0)
        for _ in range(block):
            i += 1
            timed.spent = 0.0
            t0 = time.perf_counter()
            llm.complete(f"question {i}")
            total = time.perf_counter() - t0
            totals.append(total)
            ours.append(total - timed.spent)
    llm.backend._litellm = timed._litellm
    return tuple(statistics.median(x) * 1000 for x in (totals, bares, ours))


def stubbed_overhead_ms(llm: LiteLLM, n: int, response: Any) -> float:
    """Median ms of a call whose ``litellm.completion`` returns ``response`` at once: our code alone."""

    class Stub:
        def completion(self, **kwargs: Any) -> Any:
            return response

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    real = llm.backend._litellm
    llm.backend._litellm = Stub()
    try:
        return median_ms(lambda i: llm.complete(f"stubbed question {i}"), n)
    finally:
        llm.backend._litellm = real


@contextlib.contextmanager
def server_process() -> Iterator[str]:
    """The loopback server in its own process (so it does not share our GIL): yields its URL."""
    code = "from trace_core.testing.server import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    n = 60 if parser.parse_args().quick else 300
    litellm = import_litellm()
    import openai

    rows: list[tuple[str, str, str, str]] = []
    tmp = tempfile.mkdtemp(prefix="llm-bench-")
    with server_process() as url:
        base = {"model": MODEL, "api_base": url, "api_key": KEY, "max_retries": 0, "num_retries": 0}
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
        for _ in range(20):  # warm up connections and litellm's first-call set-up
            litellm.completion(messages=[{"role": "user", "content": "warm"}], **base)
            client.chat.completions.create(model="loopback", messages=[{"role": "user", "content": "warm"}])

        def msg(i: int) -> list[dict[str, str]]:
            return [{"role": "user", "content": f"question {i}"}]

        bare_openai = median_ms(lambda i: client.chat.completions.create(model="loopback", messages=msg(i)), n)
        bare_litellm = median_ms(lambda i: litellm.completion(messages=msg(i), **base), n)
        rows.append(("bare openai client, per call", f"{bare_openai:.2f} ms", "-", "baseline"))
        rows.append(("bare litellm.completion, per call", f"{bare_litellm:.2f} ms", f"{bare_openai:.2f} ms",
                     f"litellm adds {bare_litellm - bare_openai:.2f} ms ({bare_litellm / bare_openai:.1f}x) (info)"))

        def bare_call(i: int) -> Any:
            return litellm.completion(messages=msg(i), **base)

        canned = bare_call(0)
        stacks = {
            "LiteLLM default (retry)": LiteLLM(MODEL, api_base=url, api_key=KEY),
            "full stack, cache miss": LiteLLM(
                MODEL, api_base=url, api_key=KEY, cache=os.path.join(tmp, "cache.sqlite"), retry=Retry(),
                max_concurrency=8, budget=Budget(max_tokens=10**9, max_calls=10**6),
                log_path=os.path.join(tmp, "calls.jsonl")),
        }
        for label, llm in stacks.items():
            alone = stubbed_overhead_ms(llm, n, canned)
            total, bare, ours = overhead_ms(llm, n, bare_call)
            rows.append((f"{label}: our code per call (litellm stubbed)", f"{alone:.3f} ms", "target 1 ms",
                         "OK" if alone <= 1 else "MISS"))
            rows.append((f"{label}: call minus time inside litellm", f"{ours:.3f} ms", "target 1 ms",
                         f"{'OK' if ours <= 1 else 'MISS'} (includes GIL waits on litellm's logging thread)"))
            rows.append((f"{label}: whole call vs bare litellm call", f"{total:.2f} ms", f"{bare:.2f} ms",
                         f"{total - bare:+.2f} ms, {total / bare:.2f}x (info: noise of the machine)"))
        full = stacks["full stack, cache miss"]
        full.complete("question 0")
        hit = median_ms(lambda i: full.complete("question 0"), n)
        rows.append(("full stack, cache hit: latency", f"{hit:.3f} ms", "target 1 ms",
                     f"{'OK' if hit <= 1 else 'MISS'}; {bare_litellm / hit:.0f}x faster than a bare call"))

    with openai_server() as srv:
        rows += concurrency_rows(srv)
        rows += fault_rows(srv)

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; n={n} calls per figure")
    widths = [max(len(r[i]) for r in rows + [HEADER]) for i in range(4)]
    for row in [HEADER, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))


HEADER = ("figure (median)", "value", "baseline / target", "ratio / verdict")


def concurrency_rows(srv: Any) -> list[tuple[str, str, str, str]]:
    """32 calls at once through a limit of 8, ours beside bare litellm under a plain semaphore."""
    srv.reset("slow")
    srv.delay_s = 0.02
    limit, calls, repeats = 8, 32, 5
    ideal = calls / limit * srv.delay_s * 1000
    litellm = import_litellm()
    base = {"model": MODEL, "api_base": srv.url, "api_key": KEY, "max_retries": 0, "num_retries": 0}
    llm = LiteLLM(MODEL, api_base=srv.url, api_key=KEY, max_concurrency=limit, retry=False)
    gate = threading.BoundedSemaphore(limit)

    def bare(i: int) -> Any:
        with gate:
            return litellm.completion(messages=[{"role": "user", "content": f"b{i}"}], **base)

    def timed(run: Callable[[], Any]) -> tuple[float, int]:
        srv.reset("slow")
        t0 = time.perf_counter()
        run()
        return (time.perf_counter() - t0) * 1000, srv.peak_in_flight

    def alternate(ours: Callable[[], Any], theirs: Callable[[], Any]) -> tuple[float, int, float]:
        """Medians of wall times (ours, bare) over alternating rounds, after two warm-up rounds each."""
        for _ in range(2):
            ours(), theirs()
        pairs = [(timed(ours), timed(theirs)) for _ in range(repeats)]
        return (statistics.median(p[0][0] for p in pairs), max(p[0][1] for p in pairs),
                statistics.median(p[1][0] for p in pairs))

    async def async_rounds() -> tuple[float, int, float]:
        """Like ``alternate`` with asyncio tasks (one event loop, an asyncio.Semaphore for the bare side)."""
        gate_async = asyncio.Semaphore(limit)

        async def bare_async(i: int) -> Any:
            async with gate_async:
                return await litellm.acompletion(messages=[{"role": "user", "content": f"a{i}"}], **base)

        walls: dict[str, list[float]] = {"ours": [], "bare": []}
        peak = 0
        for round_ in range(repeats + 2):
            for name, make in (("ours", lambda i: llm.acomplete(f"t{i}")), ("bare", bare_async)):
                srv.reset("slow")
                t0 = time.perf_counter()
                await asyncio.gather(*(make(i) for i in range(calls)))
                if round_ >= 2:  # the first two rounds warm up
                    walls[name].append((time.perf_counter() - t0) * 1000)
                    peak = max(peak, srv.peak_in_flight if name == "ours" else 0)
        return statistics.median(walls["ours"]), peak, statistics.median(walls["bare"])

    with ThreadPoolExecutor(calls) as pool:
        threads = alternate(lambda: list(pool.map(lambda i: llm.complete(f"c{i}"), range(calls))),
                            lambda: list(pool.map(bare, range(calls))))
    results = {"threads": threads, "asyncio tasks": asyncio.run(async_rounds())}
    rows = []
    for kind, (ours, peak, theirs) in results.items():
        rows.append((f"{calls} {kind} through max_concurrency={limit}", f"{ours:.0f} ms",
                     f"bare+semaphore {theirs:.0f} ms", f"{ours / theirs:.2f}x; {calls / ours * 1000:.0f} calls/s; "
                     f"ideal {ideal:.0f} ms; server peak {peak} in flight"))
    return rows


def fault_rows(srv: Any) -> list[tuple[str, str, str, str]]:
    policy = Retry(attempts=4, base_delay_s=0.001, max_delay_s=0.05)
    llm = LiteLLM(MODEL, api_base=srv.url, api_key=KEY, retry=policy)
    rows = []
    srv.reset("normal")
    srv.retry_after = "0"
    calls = 10
    srv.script.extend(["429", "500", "normal"] * calls)
    ok = sum(1 for i in range(calls) if llm.complete(f"f{i}").text)
    rows.append((f"fault script 429,500,ok x{calls}", f"{len(srv.requests)} requests",
                 f"allowed {calls * policy.attempts}", f"{ok}/{calls} calls answered; "
                 f"{'OK' if len(srv.requests) <= calls * policy.attempts else 'TOO MANY'}"))
    srv.reset("500")
    failed = 0
    for i in range(5):
        try:
            llm.complete(f"g{i}")
        except LLMError:
            failed += 1
    rows.append(("always 500 x5", f"{len(srv.requests)} requests", f"allowed {5 * policy.attempts}",
                 f"{failed}/5 calls failed with a typed error; "
                 f"{'OK' if len(srv.requests) <= 5 * policy.attempts else 'TOO MANY'}"))
    return rows


if __name__ == "__main__":
    main()
