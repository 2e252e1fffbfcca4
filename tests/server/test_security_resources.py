"""One request must not hang or exhaust the server (finding 5, and part of 10). Each attack goes
to a real `promptyard serve` over HTTP; while it runs /api/health answers within 2 s, the job
ends on its own (failed, naming the test and the limit), and the server's memory stays
bounded. Before the limits: nested loops froze health and grew RSS by gigabytes, `"x" * N`
wrote hundreds of MB, maxConcurrency 10^30 never started, 540 bytes of YAML aliases became
70 MB, and a body nested 500 deep answered 500."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server
from bench.stub_server import StubServer

HEALTH_S = 2.0  # the longest /api/health may take while an attack runs
RSS_MB = 300  # the most the server's memory may grow during one
JOB_S = 30.0  # a bound on each attack's job, far below a hang

LOOPS = (
    "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{{ b }}{% endfor %}{% endfor %}"
)
SILENT_LOOPS = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}x"
EXPONENTIAL = (
    "{% macro f(n) %}{% if n > 0 %}{% set a = f(n - 1) %}{% set b = f(n - 1) %}{% endif %}"
    "{% endmacro %}{{ f(60) }}"
)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


class Watch:
    """Polls /api/health from a thread while an attack runs: the slowest answer, and the
    server's peak memory above where it started."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.base = rss_mb(server.proc.pid)
        self.worst_health = 0.0
        self.peak_growth = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                t0 = time.monotonic()
                client.get(f"{self.server.api}/health").raise_for_status()
                self.worst_health = max(self.worst_health, time.monotonic() - t0)
                growth = rss_mb(self.server.proc.pid) - self.base
                self.peak_growth = max(self.peak_growth, growth)
                if growth > 3 * RSS_MB:  # don't let a regression eat the machine
                    self.server.kill()
                    return
                time.sleep(0.05)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=35)

    def check(self) -> None:
        assert self.worst_health < HEALTH_S, f"/api/health took {self.worst_health:.2f} s"
        assert self.peak_growth < RSS_MB, f"RSS grew by {self.peak_growth:.0f} MB"


def start_job(server: ServerProcess, config: dict[str, Any]) -> str:
    resp = httpx.post(f"{server.api}/evaluate", json={"config": config}, timeout=10)
    assert resp.status_code == 202, resp.text
    job_id: str = resp.json()["job_id"]
    return job_id


def wait_finished(server: ServerProcess, job_id: str, timeout: float = JOB_S) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail: dict[str, Any] = httpx.get(f"{server.api}/jobs/{job_id}", timeout=10).json()
        if detail["job"]["status"] not in ("queued", "running"):
            return detail
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def attack(server: ServerProcess, config: dict[str, Any]) -> tuple[dict[str, Any], Watch]:
    with Watch(server) as watch:
        detail = wait_finished(server, start_job(server, config))
    return detail, watch


def error_of(detail: dict[str, Any]) -> str:
    ends = [e["payload"] for e in detail["events"] if e["type"] == "end"]
    return str(ends[-1].get("error"))


def one_test(prompt: str, **test: Any) -> dict[str, Any]:
    return {"prompts": [prompt], "providers": ["echo"], "tests": [{"vars": {}, **test}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("resources")) as s:
        yield s


def db_bytes(server: ServerProcess) -> int:
    path = Path(server.db.removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


# -- templates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "limit"),
    [
        (LOOPS, "PROMPTYARD_RENDER_MAX_CHARS"),
        (SILENT_LOOPS, "PROMPTYARD_RENDER_MAX_CHARS"),
        (EXPONENTIAL, "PROMPTYARD_RENDER_TIMEOUT_MS"),
    ],
    ids=["nested-loops", "silent-loops", "exponential-macro"],
)
def test_a_runaway_template_fails_its_job_and_the_server_keeps_serving(
    server: ServerProcess, prompt: str, limit: str
) -> None:
    detail, watch = attack(server, one_test(prompt))
    watch.check()
    assert detail["job"]["status"] == "failed"
    error = error_of(detail)
    assert limit in error and "tests[0]" in error, error  # the limit and the test


def test_a_runaway_assertion_value_fails_its_job(server: ServerProcess) -> None:
    config = one_test("hi", assert_=None)
    config["tests"] = [{"vars": {}, "assert": [{"type": "contains", "value": EXPONENTIAL}]}
                       for _ in range(20)]  # fmt: skip
    detail, watch = attack(server, config)
    watch.check()
    assert detail["job"]["status"] == "failed"
    assert "PROMPTYARD_RENDER_TIMEOUT_MS" in error_of(detail)


def test_string_multiplication_is_refused_and_the_database_stays_small(
    server: ServerProcess,
) -> None:
    before = db_bytes(server)
    config = one_test('{{ "x" * 300000000 }}')
    config["tests"] = [{"vars": {}} for _ in range(20)]
    detail, watch = attack(server, config)
    watch.check()
    assert detail["job"]["status"] == "failed"
    assert "PROMPTYARD_RENDER_MAX_CHARS" in error_of(detail)
    assert db_bytes(server) - before < 2_000_000


def test_max_concurrency_of_10_to_the_30_is_clamped(server: ServerProcess) -> None:
    config = one_test("hi {{ n }}", evaluateOptions=None)
    config.pop("evaluateOptions", None)
    config["tests"] = [{"vars": {"n": i}} for i in range(5)]
    config["evaluateOptions"] = {"maxConcurrency": 10**30}
    detail, watch = attack(server, config)
    watch.check()
    assert detail["job"]["status"] == "succeeded", detail["job"]
    assert detail["summary"]["total"] == 5


def test_huge_outputs_and_reasons_are_stored_capped(
    server: ServerProcess, stub_server: StubServer
) -> None:
    stub_server.add_rule("HUGE", "o" * 3_000_000)
    provider = {"id": "openai:chat:gpt-4o-mini",
                "config": {"apiBaseUrl": stub_server.base_url, "apiKey": "sk-test"}}  # fmt: skip
    reason = "({pass: false, score: 0, reason: 'r'.repeat(200000)})"
    config = {"prompts": ["HUGE {{ n }}"], "providers": [provider],
              "tests": [{"vars": {"n": i}, "assert": [{"type": "javascript", "value": reason}]}
                        for i in range(3)]}  # fmt: skip
    detail, watch = attack(server, config)
    watch.check()
    assert detail["job"]["status"] == "succeeded", detail["job"]
    run_id = detail["job"]["run_id"]
    trial = httpx.get(f"{server.api}/runs/{run_id}/trials/0", timeout=30).json()
    output = trial["response"]["output"]
    assert len(output) == 1_000_000 and "PROMPTYARD_MAX_OUTPUT_CHARS" in output
    reasons = [c["reason"] for c in trial["gradingResult"]["componentResults"]]
    assert reasons and all(len(r) <= 20_000 for r in reasons)
    assert "PROMPTYARD_MAX_REASON_CHARS" in reasons[0]
    assert len(str(trial["raw"])) <= 1_000_100
    # What the database holds for the run: 3 outputs and 3 raw bodies of 1 MB at most, and
    # the cache's copy of each (uncapped: 3 MB each, 36 MB in all).
    with sqlite3.connect(f"file:{server.db.removeprefix('sqlite:///')}?mode=ro", uri=True) as db:
        out, raw = db.execute(
            "SELECT sum(length(output)), sum(length(raw)) FROM trials WHERE run_id = ?", (run_id,)
        ).fetchone()
        cache = db.execute("SELECT max(length(value)) FROM cache").fetchone()[0]
    assert out < 3_000_300 and raw < 3_000_300 and cache < 2_000_300


# -- uploads and bodies -------------------------------------------------------------------------


def laughs(levels: int = 9, width: int = 9) -> str:
    doc = "x0: &x0 [" + ", ".join(["lol"] * width) + "]\n"
    for i in range(1, levels):
        doc += f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * width) + "]\n"
    return "- description: boom\n  vars:\n" + "".join(f"    {line}\n" for line in doc.splitlines())


def upload(server: ServerProcess, name: str, content: bytes | str) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return httpx.post(f"{server.api}/datasets/upload", files={"file": (name, data)},
                      data={"name": name.replace(".", "-")}, timeout=60)  # fmt: skip


def test_yaml_billion_laughs_upload_is_refused(server: ServerProcess) -> None:
    doc = laughs()
    assert len(doc) < 600  # 9**9 strings once expanded
    with Watch(server) as watch:
        resp = upload(server, "boom.yaml", doc)
    watch.check()
    assert resp.status_code == 400, resp.text
    assert "PROMPTYARD_YAML_MAX_NODES" in resp.json()["detail"]


def nested_json(depth: int) -> str:
    return '{"a": ' * depth + '"leaf"' + "}" * depth


@pytest.mark.parametrize("depth", [500, 5000])
def test_nested_uploads_answer_400_naming_the_field(server: ServerProcess, depth: int) -> None:
    files = {
        "deep.json": '[{"vars": {"x": ' + nested_json(depth) + "}}]",
        "deep.jsonl": '{"vars": {"x": ' + nested_json(depth) + "}}\n",
        "deep.yaml": "- vars:\n    x: " + "[" * min(depth, 900) + "]" * min(depth, 900) + "\n",
    }
    for name, text in files.items():
        resp = upload(server, name, text)
        assert resp.status_code == 400, (name, resp.text)
        detail = resp.json()["detail"]
        assert "PROMPTYARD_MAX_DEPTH" in detail and "vars.x" in detail, (name, detail)


def test_nested_dataset_rows_answer_400_naming_the_field(server: ServerProcess) -> None:
    body = '{"name": "deep", "rows": [{"vars": {"x": ' + nested_json(500) + "}}]}"
    resp = httpx.post(f"{server.api}/datasets", content=body, timeout=30,
                      headers={"content-type": "application/json"})  # fmt: skip
    assert resp.status_code == 400, resp.text
    assert resp.json()["detail"].startswith("rows[0].vars.x.a.a")


@pytest.mark.parametrize("depth", [500, 5000])
@pytest.mark.parametrize("route", ["evaluate", "run", "datasets"])
def test_nested_json_bodies_answer_400_naming_the_field(
    server: ServerProcess, depth: int, route: str
) -> None:
    deep = nested_json(depth)
    if route == "datasets":
        body = '{"name": "deep", "rows": [{"vars": {"x": ' + deep + "}}]}"
        field = "rows[0].vars.x.a.a"
    else:
        body = '{"config": {"prompts": ["hi"], "providers": ["echo"], "tests": [{"vars": ' \
               '{"x": ' + deep + "}}]}}"  # fmt: skip
        field = "config.tests[0].vars.x.a.a"
    resp = httpx.post(f"{server.api}/{route}", content=body, timeout=30,
                      headers={"content-type": "application/json"})  # fmt: skip
    assert resp.status_code == 400, resp.text
    detail = resp.json()["detail"]
    assert detail.startswith(field) and "PROMPTYARD_MAX_DEPTH" in detail, detail


def test_bodies_within_the_depth_limit_pass(server: ServerProcess) -> None:
    config = {"prompts": ["hi {{ x.a }}"], "providers": ["echo"],
              "tests": [{"vars": {"x": {"a": {"b": [1, [2, [3]]]}}}}]}  # fmt: skip
    resp = httpx.post(f"{server.api}/run", json={"config": config}, timeout=30)
    assert resp.status_code == 202, resp.text


def test_upload_rows_and_bytes_are_limited(tmp_path: Path) -> None:
    env = {"PROMPTYARD_UPLOAD_MAX_ROWS": "10", "PROMPTYARD_UPLOAD_MAX_BYTES": "20000"}
    with running_server(tmp_path, env=env) as s:
        rows = "q,a\n" + "".join(f"question {i},answer {i}\n" for i in range(11))
        resp = upload(s, "rows.csv", rows)
        assert resp.status_code == 400 and "PROMPTYARD_UPLOAD_MAX_ROWS" in resp.json()["detail"]
        resp = upload(s, "rows.jsonl", "".join(f'{{"vars": {{"q": {i}}}}}\n' for i in range(11)))
        assert resp.status_code == 400 and "PROMPTYARD_UPLOAD_MAX_ROWS" in resp.json()["detail"]
        resp = upload(s, "big.csv", "q\n" + "x" * 30_000 + "\n")
        assert resp.status_code == 413 and "PROMPTYARD_UPLOAD_MAX_BYTES" in resp.json()["detail"]
        body = {"name": "many", "rows": [{"vars": {"q": i}} for i in range(11)]}
        resp = httpx.post(f"{s.api}/datasets", json=body, timeout=10)
        assert resp.status_code == 400 and "PROMPTYARD_UPLOAD_MAX_ROWS" in resp.json()["detail"]
        assert upload(s, "ok.csv", rows.rsplit("question 10", 1)[0]).status_code == 201
