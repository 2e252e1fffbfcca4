"""An app built by `create_app(settings)` under any process manager, not only through
`promptyard serve`, has the server's safe defaults: the strict trust policy and the browser
guard. Over real HTTP: uvicorn started directly on the factory, as an operator would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.serverctl import REPO, free_port

APP = textwrap.dedent(
    """
    import sys, uvicorn
    from promptyard.server import create_app
    from promptyard.settings import load_settings
    uvicorn.run(create_app(load_settings(), database_url=sys.argv[2]), host="127.0.0.1",
                port=int(sys.argv[1]), log_level="warning")
    """
)


@pytest.fixture
def bare_app(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    (tmp_path / "project").mkdir()
    canary = tmp_path / "project" / "canary.py"
    canary.write_text(
        "import pathlib\npathlib.Path(__file__).with_name('RAN').write_text('x')\n"
        "def call_api(prompt, options, context):\n    return {'output': 'ran'}\n"
    )
    env = {"PYTHONPATH": str(REPO / "src"), "PROMPTYARD_PROJECTS_ROOT": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", APP, str(port), f"sqlite:///{tmp_path / 'bare.db'}"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            pytest.fail("the app did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_create_app_refuses_python_and_foreign_hosts(bare_app: str, tmp_path: Path) -> None:
    config = {"prompts": ["hi"], "providers": ["python:canary.py"], "tests": [{"vars": {}}]}
    resp = httpx.post(f"{bare_app}/evaluate", json={"config": config, "project": "project"})
    assert resp.status_code == 400, resp.text
    assert "PROMPTYARD_ALLOW_PYTHON" in resp.json()["detail"]
    assert not (tmp_path / "project" / "RAN").exists()
    assert httpx.get(f"{bare_app}/jobs", headers={"Host": "evil.example"}).status_code == 403
