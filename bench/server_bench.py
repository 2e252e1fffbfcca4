"""Benchmark the server over loopback: GET latency under load, and SSE fan-out.

    python -m bench.server_bench              # 200 concurrent GETs x 10 rounds; 100 subscribers
    python -m bench.server_bench --quick      # smaller, for a smoke check

Starts `promptyard serve` (a real uvicorn process, temp SQLite) and the LLM stub, each in its
own process; the load comes from this process with httpx (asyncio).
- GET: /api/health, /api/jobs, /api/runs/{id} and /api/prompts/{name}, 200 requests in flight
  at a time, p50 and p99 per endpoint.
- SSE: 100 subscribers on one evaluate job (200 trials, 8 calls at a time to the stub at
  200 ms: ~40 trial events a second, 4,000 deliveries a second); for every event,
  the delay from the moment it was written (its `created_at`) to its arrival at each
  subscriber, for the events written after that subscriber connected (earlier ones are a
  replay); p50 and p99, and a check that every subscriber got every seq exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.serverctl import running_server
from bench.stub_server import StubServer


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def wrk_load(api: str, paths: list[str], concurrency: int, seconds: int) -> dict[str, Any]:
    """GET load from wrk (a C load generator: the client must not compete with the server for
    the same 2 cores the way a Python client does)."""
    import re
    import subprocess

    out: dict[str, Any] = {}
    for path in paths:
        text = subprocess.run(
            ["wrk", "-t2", f"-c{concurrency}", f"-d{seconds}s", "--latency", api + path],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

        def ms(label: str, text: str = text) -> float:
            m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", text)
            if not m:
                return float("nan")
            return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

        rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        out[path] = {"p50_ms": ms("50%"), "p99_ms": ms("99%"),
                     "rps": float(rps.group(1)) if rps else float("nan"),
                     "errors": int(bad.group(1)) if bad else 0}  # fmt: skip
    return out


async def get_load(api: str, paths: list[str], concurrency: int, rounds: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        for path in paths:
            times: list[float] = []
            errors = 0

            async def one(path: str = path, times: list[float] = times) -> None:
                nonlocal errors
                t0 = time.perf_counter()
                resp = await client.get(api + path)
                times.append((time.perf_counter() - t0) * 1000)
                if resp.status_code != 200:
                    errors += 1

            await asyncio.gather(*(one() for _ in range(concurrency)))  # warm up
            times.clear()
            t0 = time.perf_counter()
            for _ in range(rounds):
                await asyncio.gather(*(one() for _ in range(concurrency)))
            wall = time.perf_counter() - t0
            out[path] = {"p50_ms": pct(times, 50), "p99_ms": pct(times, 99), "errors": errors,
                         "rps": len(times) / wall}  # fmt: skip
    return out


async def fan_out(api: str, stub_url: str, subscribers: int, trials: int) -> dict[str, Any]:
    config = {
        "prompts": ["Say {{w}}"],
        "providers": [{"id": "openai:chat:gpt-4o-mini",
                       "config": {"apiBaseUrl": stub_url, "apiKey": "sk-bench"}}],
        "tests": [{"vars": {"w": f"w{i}"}} for i in range(trials)],
        "evaluateOptions": {"maxConcurrency": 8, "cache": False},
    }  # fmt: skip
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=500)) as c:
        resp = await c.post(api + "/evaluate", json={"config": config})
        resp.raise_for_status()
        job_id = resp.json()["job_id"]
        delays: list[float] = []
        seen: list[list[int]] = [[] for _ in range(subscribers)]

        async def follow(i: int) -> None:
            async with c.stream("GET", f"{api}/jobs/{job_id}/events") as stream:
                connected = time.time()  # events stored before this are replayed, not timed
                data = None
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        data = json.loads(line[5:].strip())
                    elif line == "" and data is not None:
                        arrived = time.time()
                        created = datetime.fromisoformat(data["created_at"]).timestamp()
                        if created >= connected:
                            delays.append((arrived - created) * 1000)
                        seen[i].append(data["seq"])
                        if data["type"] == "end":
                            return
                        data = None

        await asyncio.gather(*(follow(i) for i in range(subscribers)))
    expected = seen[0]
    complete = all(s == list(range(1, len(expected) + 1)) for s in seen)
    return {"subscribers": subscribers, "events": len(expected), "p50_ms": pct(delays, 50),
            "p99_ms": pct(delays, 99), "mean_ms": statistics.fmean(delays),
            "every_event_once": complete}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    concurrency, rounds = (50, 3) if args.quick else (200, 10)
    subscribers, trials = (20, 50) if args.quick else (100, 200)
    stub = StubServer()
    stub.set_latency(200)
    with (
        stub.running(),
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp), env={"PROMPTYARD_RATE_LIMIT_PER_MINUTE": "0"}) as server,
    ):
        api = server.api
        seed = httpx.post(api + "/prompts", json={"name": "bench.greeting",
                                                  "template": "Hello {{name}}"})  # fmt: skip
        seed.raise_for_status()
        fan = asyncio.run(fan_out(api, stub.base_url, subscribers, trials))
        run_id = httpx.get(api + "/jobs").json()["items"][0]["run_id"]
        paths = ["/health", "/jobs", f"/runs/{run_id}", "/prompts/bench.greeting"]
        if shutil.which("wrk"):
            client = "wrk"
            gets = wrk_load(api, paths, concurrency, 5 if args.quick else 10)
        else:
            client = "httpx (install wrk for figures that do not count the client's CPU)"
            gets = asyncio.run(get_load(api, paths, concurrency, rounds))
    print(f"GET with {concurrency} requests in flight (load from {client}):")
    for path, m in gets.items():
        print(f"  {path:<28} p50 {m['p50_ms']:7.1f} ms  p99 {m['p99_ms']:7.1f} ms  "
              f"{m['rps']:7.0f} req/s  errors {m['errors']}")  # fmt: skip
    print(
        f"SSE fan-out: {fan['subscribers']} subscribers x {fan['events']} events: "
        f"delivery p50 {fan['p50_ms']:.1f} ms, p99 {fan['p99_ms']:.1f} ms "
        f"(target p99 < 50 ms); every event exactly once: {fan['every_event_once']}"
    )


if __name__ == "__main__":
    main()
