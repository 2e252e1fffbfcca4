"""The harness's own floor: how long the eval benchmark's requests take with no Promptyard at all.

    python -m bench.floor_bench                     # 5,000 requests, 64 at a time, stub at 200 ms
    python -m bench.floor_bench --requests 1000 --concurrency 32

Sends the eval benchmark's chat request (bench/eval_bench.py) to the same stub, in its own
process, from clients that do nothing else: a raw asyncio client (one socket per slot, one
write and one `json.loads` per request, no HTTP library) and a bare aiohttp session. Their wall
time is the least any client in Python can take for the scenario; `promptyard eval` adds its
start-up, its finish and its engine on top (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from itertools import count
from typing import Any

from bench.eval_bench import stub_server

BODY = json.dumps(
    {
        "model": "stub-model",
        "messages": [{"role": "user", "content": "Answer briefly: question number 1"}],
        "max_tokens": 16,
    }
).encode()


class _OneResponse(asyncio.Protocol):
    """A keep-alive connection that reads Content-Length framed responses, one at a time."""

    def __init__(self) -> None:
        self.buffer = b""
        self.waiter: asyncio.Future[bytes] | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = self.buffer[:end].decode("latin-1").lower()
        length = int(head.split("content-length:")[1].split("\r\n")[0])
        if len(self.buffer) >= end + 4 + length:
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            waiter, self.waiter = self.waiter, None
            waiter.set_result(body)


async def raw_client(host: str, port: int, path: str, requests: int, slots: int) -> list[float]:
    loop = asyncio.get_running_loop()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer bench-key\r\nContent-Length: {len(BODY)}\r\n\r\n"
    )
    message = head.encode() + BODY
    numbers = count()
    latencies: list[float] = []

    async def slot() -> None:
        transport, conn = await loop.create_connection(_OneResponse, host, port)
        while next(numbers) < requests:
            start = time.perf_counter()
            conn.waiter = loop.create_future()
            transport.write(message)
            json.loads(await conn.waiter)
            latencies.append(time.perf_counter() - start)
        transport.close()

    await asyncio.gather(*(slot() for _ in range(slots)))
    return latencies


async def aiohttp_client(url: str, requests: int, slots: int) -> list[float]:
    import aiohttp

    numbers = count()
    latencies: list[float] = []
    headers = {"Content-Type": "application/json", "Authorization": "Bearer bench-key"}
    connector = aiohttp.TCPConnector(limit=slots)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def slot() -> None:
            while next(numbers) < requests:
                start = time.perf_counter()
                async with session.post(url, data=BODY, headers=headers) as resp:
                    json.loads(await resp.read())
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(slot() for _ in range(slots)))
    return latencies


def measure(name: str, run: Callable[[], Coroutine[Any, Any, list[float]]]) -> None:
    start, cpu = time.perf_counter(), time.process_time()
    latencies = sorted(asyncio.run(run()))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    mean = 1000 * sum(latencies) / len(latencies)
    p95 = 1000 * latencies[int(0.95 * (len(latencies) - 1))]
    print(
        f"{name:<8} {len(latencies)} requests  wall {wall:6.2f} s  per request: mean "
        f"{mean:6.1f} ms, p95 {p95:6.1f} ms  client CPU {cpu:5.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=int, default=200)
    args = parser.parse_args()
    with stub_server(args.latency_ms) as base_url:
        host, port = base_url.split("//")[1].split("/")[0].split(":")
        path = "/v1/chat/completions"
        n, c = args.requests, args.concurrency
        measure("raw", lambda: raw_client(host, int(port), path, n, c))
        measure("aiohttp", lambda: aiohttp_client(base_url + "/chat/completions", n, c))
    rounds = -(-args.requests // args.concurrency)
    ideal = rounds * args.latency_ms / 1000
    print(f"no overhead at all: {ideal:.2f} s ({rounds} rounds of {args.latency_ms} ms)")


if __name__ == "__main__":
    main()
