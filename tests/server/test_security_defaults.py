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
from typing import Any

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


def test_uvicorn_can_run_the_app_by_its_import_string(tmp_path: Path) -> None:
    """`uvicorn promptyard.server:app` and `--factory promptyard.server:create_app` (for
    process managers of one's own) serve the API with the server's defaults."""
    for target in (["promptyard.server:app"], ["--factory", "promptyard.server:create_app"]):
        port = free_port()
        env = {"PYTHONPATH": str(REPO / "src"),
               "PROMPTYARD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'u.db'}",
               "PROMPTYARD_PROJECTS_ROOT": str(tmp_path)}  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *target, "--port", str(port)],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/api"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            else:
                pytest.fail(f"uvicorn {target} did not start")
            assert httpx.get(f"{url}/jobs", headers={"Host": "evil.example"}).status_code == 403
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    assert (tmp_path / "u.db").is_file()  # the async driver's URL means the same file


async def test_without_auth_only_loopback_connections_are_served() -> None:
    """Bound beyond loopback by another process manager, a server without auth refuses every
    connection that did not arrive on a loopback address. (This machine has no other address
    to connect through, so the guard is driven with the ASGI scope uvicorn would build.)"""
    from promptyard.server.browser import BrowserGuard

    async def api(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def status(guard: BrowserGuard, server: tuple[str, int | None]) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        scope = {"type": "http", "method": "GET", "scheme": "http", "path": "/api/jobs",
                 "headers": [(b"host", b"localhost")], "server": server}  # fmt: skip
        await guard(scope, receive, send)
        return int(sent[0]["status"])

    open_guard = BrowserGuard(api, check_host=True)
    assert await status(open_guard, ("10.1.2.3", 6969)) == 403
    assert await status(open_guard, ("203.0.113.9", 6969)) == 403
    assert await status(open_guard, ("127.0.0.1", 6969)) == 200
    assert await status(open_guard, ("::1", 6969)) == 200
    assert await status(open_guard, ("/run/promptyard.sock", None)) == 200  # a Unix socket
    with_auth = BrowserGuard(api, check_host=False)  # auth on: tokens decide
    assert await status(with_auth, ("10.1.2.3", 6969)) == 200
