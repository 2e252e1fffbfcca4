"""CPU per call of the two OpenAI-compatible transports: the lean aiohttp client (default)
and the official `openai` SDK (`transport: sdk`), measured in the same run.

    python -m bench.transport_bench             # 1,000 calls, 64 at a time, stub at 20 ms

The stub runs in its own process, so the CPU figures (time.process_time of this process)
are the client's alone: request building, HTTP, parsing, pricing and our retry policy.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.eval_bench import stub_server
from promptyard.core.types import CompletionRequest, EvalOptions, ProviderSpec
from promptyard.providers import CallPolicy, create_provider
from promptyard.trust import TrustPolicy

LOCAL_TRUST = TrustPolicy()  # the local user's policy


async def measure(
    base_url: str, transport: str, calls: int, concurrency: int
) -> tuple[float, float]:
    spec = ProviderSpec(
        id="openai:chat:stub-model",
        config={"apiBaseUrl": base_url, "apiKey": "bench-key", "transport": transport},
    )
    provider = create_provider(spec, trust=LOCAL_TRUST)
    policy = CallPolicy.from_config(provider, spec.config, EvalOptions(max_concurrency=concurrency))
    request = CompletionRequest(prompt="hi", messages=[{"role": "user", "content": "hi"}])
    await policy.complete(request)  # warm up: imports, connection pool
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(calls):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            await policy.complete(request)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await provider.aclose()
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=int, default=20)
    args = parser.parse_args()
    with stub_server(args.latency_ms) as base_url:
        results = {
            transport: asyncio.run(measure(base_url, transport, args.calls, args.concurrency))
            for transport in ("aiohttp", "sdk")
        }
    for transport, (wall, cpu) in results.items():
        print(
            f"{transport:<8} wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
            f"({1000 * cpu / args.calls:.3f} ms CPU per call)"
        )
    ratio = results["sdk"][1] / results["aiohttp"][1]
    print(f"the SDK costs {ratio:.1f}x the CPU of the aiohttp transport per call")


if __name__ == "__main__":
    main()
