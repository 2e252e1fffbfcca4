"""No malformed input makes the server answer 500: schemathesis generates requests from the
server's own OpenAPI document and sends them to a real server over HTTP."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
from bench.serverctl import running_server

MAX_EXAMPLES = "25"


def test_schemathesis_finds_no_server_errors(tmp_path: Path) -> None:
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert schemathesis, "schemathesis is a dev dependency: run `make test` to install it"
    env = {"PROMPTYARD_RATE_LIMIT_PER_MINUTE": "0"}
    with running_server(tmp_path, env=env) as server:
        # Some data, so that generated ids and names sometimes hit real things.
        api = server.api
        httpx.post(f"{api}/prompts", json={"name": "p", "template": "Hi {{x}}"}).raise_for_status()
        httpx.post(f"{api}/datasets", json={"name": "d", "rows": [{"vars": {"x": 1}}]})
        job = httpx.post(
            f"{api}/evaluate",
            json={
                "config": {
                    "prompts": ["Hi {{x}}"],
                    "providers": ["echo"],
                    "tests": [{"vars": {"x": 1}}],
                }
            },
        )
        assert job.status_code == 202, job.text
        out = subprocess.run(
            [schemathesis, "run", f"{server.url}/openapi.json", "--checks", "not_a_server_error",
             "--max-examples", MAX_EXAMPLES, "--generation-deterministic",
             "--exclude-path-regex", ".*/events$", "--request-timeout", "20"],
            capture_output=True, text=True, timeout=400, cwd=tmp_path,
        )  # fmt: skip
        tail = out.stdout[-3000:] + out.stderr[-2000:]
        assert "ST101" not in out.stdout, tail + "\n--- server log ---\n" + server.output()[-4000:]
        assert out.returncode == 0, tail
        assert "generated" in out.stdout  # it really ran test cases
