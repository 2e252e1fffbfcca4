"""Micro-benchmark: Grader.grade() with a JavaScript assertion, many trials at once.

    python -m bench.js_bench                    # 2,000 cases, 64 concurrent
    python -m bench.js_bench --cases 5000 --latency-ms 20

Each of `concurrency` workers loops: wait `latency_ms` (a provider call), then grade one case
(icontains + javascript `output.length > 3`, as in eval_bench). Reports the wall time, the
CPU of this process and of the JavaScript sandbox child per case, and the worst delay the
event loop showed to a ticker coroutine (how long grading blocked the loop).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from promptyard.core.types import Assertion, Completion, GradingContext, TestCase, TokenUsage
from promptyard.scorers.grader import Grader

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _children_cpu_s() -> float:
    """CPU of this process's live children (the JavaScript sandbox)."""
    total = 0.0
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as fh:
            total += sum(_cpu_s(int(pid)) for pid in fh.read().split())
    return total


def _contexts(n: int) -> list[GradingContext]:
    shared = [
        Assertion(type="icontains", value="hello"),
        Assertion(type="javascript", value="output.length > 3"),
    ]
    out = []
    for i in range(n):
        text = f"Hello number {i}, how are you?"
        test = TestCase(vars={"i": i}, assertions=list(shared))
        comp = Completion(output=text, usage=TokenUsage(prompt=5, completion=9, total=14))
        out.append(GradingContext(text, "Say hello", {"i": i}, test, "openai:stub", comp))
    return out


async def _run(cases: int, concurrency: int, latency_s: float) -> None:
    contexts = _contexts(cases)
    grader = Grader()
    for a in contexts[0].test.assertions:
        grader.validate(a)
    warm = await grader.grade(contexts[0])  # start the sandbox outside the measurement
    assert warm.passed, warm.reason
    child0 = _children_cpu_s()
    queue = list(reversed(contexts))
    failures = 0
    worst_gap = 0.0
    running = True

    async def ticker() -> None:
        nonlocal worst_gap
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst_gap = max(worst_gap, now - last - 0.001)
            last = now

    async def worker() -> None:
        nonlocal failures
        while queue:
            ctx = queue.pop()
            if latency_s:
                await asyncio.sleep(latency_s)
            result = await grader.grade(ctx)
            failures += not result.passed

    tick = asyncio.create_task(ticker())
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    running = False
    await tick
    child = _children_cpu_s() - child0
    grader.close()
    ideal = cases * latency_s / concurrency
    print(
        f"{cases} cases, {concurrency} concurrent, latency {latency_s * 1000:.0f} ms: "
        f"wall {wall:.3f} s (ideal {ideal:.3f} s, +{wall - ideal:.3f} s)  "
        f"cpu/case: ours {1000 * cpu / cases:.3f} ms, js child {1000 * child / cases:.3f} ms, "
        f"total {1000 * (cpu + child) / cases:.3f} ms  "
        f"worst loop stall {1000 * worst_gap:.1f} ms  failures {failures}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.repeat):
        asyncio.run(_run(args.cases, args.concurrency, args.latency_ms / 1000))


if __name__ == "__main__":
    main()
