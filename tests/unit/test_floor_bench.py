"""bench/floor_bench.py runs, so the floor quoted in docs/benchmarks.md can be measured again."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.e2e.clitools import REPO


def test_a_tiny_run_of_the_script_reports_both_clients() -> None:
    args = ["--requests", "40", "--concurrency", "8", "--latency-ms", "20"]
    out = subprocess.run(
        [sys.executable, "-m", "bench.floor_bench", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for client in ("raw", "aiohttp"):
        line = next(x for x in out.splitlines() if x.startswith(client))
        assert "40 requests" in line, out
        mean = float(re.search(r"mean +([\d.]+) ms", line).group(1))  # type: ignore[union-attr]
        assert 20 <= mean < 200, line  # never faster than the stub's latency
    assert "no overhead at all: 0.10 s (5 rounds of 20 ms)" in out
