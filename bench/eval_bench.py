"""Benchmark `promptyard eval` as a whole process against the local stub server.

    python -m bench.eval_bench                 # the issue's targets (takes ~1 min)
    python -m bench.eval_bench --quick         # smaller sizes, for a smoke check

Each scenario writes a generated project to a temp dir, starts the OpenAI-compatible stub
(bench/stub_server.py) in its own process on 127.0.0.1, runs `promptyard eval` in a child
process and reports its wall time, CPU seconds (user + sys of the child) and peak RSS.
The wall-time limit is N x latency / concurrency + 1 s, as the issue states it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPTYARD = [sys.executable, "-m", "promptyard.cli"]


@dataclass
class Measurement:
    name: str
    cases: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_code: int
    limit_s: float | None = None

    @property
    def cpu_ms_per_case(self) -> float:
        return 1000 * self.cpu_s / self.cases if self.cases else 0.0

    def line(self) -> str:
        limit = f" (limit {self.limit_s:.1f} s)" if self.limit_s is not None else ""
        verdict = ""
        if self.limit_s is not None:
            verdict = "  OK" if self.wall_s <= self.limit_s else "  OVER"
        return (
            f"{self.name:<34} wall {self.wall_s:6.2f} s{limit}  cpu {self.cpu_s:6.2f} s "
            f"({self.cpu_ms_per_case:.2f} ms/case)  peak RSS {self.peak_rss_mb:6.0f} MB  "
            f"exit {self.exit_code}{verdict}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def stub_server(latency_ms: int) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.stub_server",
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("stub server did not start")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(10)


def write_project(directory: Path, cases: int, base_url: str) -> None:
    with (directory / "cases.jsonl").open("w") as out:
        for i in range(cases):
            out.write(json.dumps({"vars": {"question": f"question number {i}"}}) + "\n")
    config = {
        "description": f"bench {cases}",
        "prompts": ["Answer briefly: {{ question }}"],
        "providers": [
            {
                "id": "openai:chat:stub-model",
                "config": {"apiBaseUrl": base_url, "apiKey": "bench-key", "max_tokens": 16},
            }
        ],
        "defaultTest": {
            "assert": [
                {"type": "icontains", "value": "question"},
                {"type": "javascript", "value": "output.length > 3"},
            ]
        },
        "tests": "file://cases.jsonl",
    }
    (directory / "promptyard.yaml").write_text(json.dumps(config, indent=1))


def run_child(args: list[str], cwd: Path) -> tuple[float, float, float, int]:
    """Run a child to completion; return wall s, CPU s, peak RSS MB (of that child), exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 100):
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far; measure in a fresh wrapper.
    return wall, cpu, after.ru_maxrss / 1024, proc.returncode


def measure_eval(
    name: str,
    cases: int,
    latency_ms: int,
    concurrency: int,
    *,
    cached_rerun: bool = False,
    gate: bool = True,
    repeats: int = 1,
) -> Measurement:
    with tempfile.TemporaryDirectory() as tmp, stub_server(latency_ms) as base_url:
        project = Path(tmp)
        write_project(project, cases, base_url)
        db_url = f"sqlite:///{project / 'bench.db'}"
        args = [
            *PROMPTYARD,
            "eval",
            "--no-progress",
            "-j",
            str(concurrency),
            "--db",
            db_url,
        ]
        if cached_rerun:
            run_child(args, project)  # fill the cache
        else:
            args.append("--no-cache")
            # A project's store exists after its first run: create it (run the migrations)
            # beforehand, so the figure is a steady-state run, not a first-ever one.
            init = f"from promptyard.store import Store; Store.open({db_url!r}).close()"
            subprocess.run([sys.executable, "-c", init], check=True)
        runs = sorted(
            (_in_fresh_process(args, project) for _ in range(repeats)), key=lambda r: r[0]
        )
        wall, cpu, rss, code = runs[len(runs) // 2]  # the median run by wall time
    limit = cases * latency_ms / 1000 / concurrency + 1 if gate else None
    return Measurement(name, cases, wall, cpu, rss, code, limit)


def _in_fresh_process(args: list[str], cwd: Path) -> tuple[float, float, float, int]:
    """Measure one child in a fresh interpreter so peak RSS belongs to that child alone."""
    code = (
        "import json,resource,subprocess,sys,time\n"
        "t=time.perf_counter();p=subprocess.run(sys.argv[1:],capture_output=True,text=True)\n"
        "w=time.perf_counter()-t;r=resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "sys.stderr.write(p.stderr[-3000:] if p.returncode else '')\n"
        "sys.stderr.write(p.stdout[-3000:] if p.returncode else '')\n"
        "print(json.dumps([w,r.ru_utime+r.ru_stime,r.ru_maxrss/1024,p.returncode]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    sys.stderr.write(out.stderr)
    wall, cpu, rss, rc = json.loads(out.stdout)
    return float(wall), float(cpu), float(rss), int(rc)


def measure_help() -> Measurement:
    best = min(_in_fresh_process([*PROMPTYARD, "--help"], ROOT)[0] for _ in range(5))
    return Measurement("promptyard --help (best of 5)", 0, best, 0.0, 0.0, 0, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    # Measure an installed Promptyard as users run it: with bytecode caches. pip compiles a
    # package's modules when it installs them; this editable checkout gets the same here
    # (and PYTHONDONTWRITEBYTECODE, set on some machines, would recompile ~60 modules per run).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
    results = [measure_help()]
    sizes = [200, 1000] if args.quick else [1000, 5000]
    for n in sizes:
        results.append(
            measure_eval(f"eval {n} cases, 200 ms, -j 64 (median of 3)", n, 200, 64, repeats=3)
        )
        print(results[-1].line(), flush=True)
    results.append(
        measure_eval("cached re-run 1000 cases", 1000, 200, 64, cached_rerun=True, gate=False)
    )
    print(results[-1].line(), flush=True)
    big = 10_000 if args.quick else 100_000
    results.append(measure_eval(f"eval {big:,} cases, 1 ms, -j 64 (RSS)", big, 1, 64, gate=False))
    print(results[-1].line(), flush=True)
    print()
    for m in results:
        print(m.line())
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in results], indent=2))


if __name__ == "__main__":
    main()
