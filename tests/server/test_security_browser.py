"""Finding 2 of the trust boundary: a web page the user visits must not drive the default
server (loopback, auth off) through DNS rebinding (a foreign Host) or cross-site writes (CSRF,
multipart included). Over real HTTP against `promptyard serve`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server

CSV = b"question,__expected\nhi,contains:hi\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("browser")
    env = {"PROMPTYARD_ALLOWED_HOSTS": "promptyard.internal"}
    with running_server(tmp, env=env, projects_root=tmp) as s:
        yield s


def port(server: ServerProcess) -> str:
    return server.url.rsplit(":", 1)[1]


def upload(server: ServerProcess, name: str, headers: dict[str, str]) -> httpx.Response:
    files = {"file": ("cases.csv", CSV, "text/csv")}
    return httpx.post(f"{server.api}/datasets/upload", headers=headers, files=files,
                      data={"name": name})  # fmt: skip


def dataset_names(server: ServerProcess) -> set[str]:
    return {d["name"] for d in httpx.get(f"{server.api}/datasets").json()["items"]}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "rebind.attacker.net:6969",
                                  "127.0.0.1.nip.io", "0.0.0.0"])  # fmt: skip
def test_a_foreign_host_header_is_refused(server: ServerProcess, host: str) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: refused, API and UI alike."""
    for path in ("/api/jobs", "/api/datasets", "/"):
        resp = httpx.get(server.url + path, headers={"Host": host})
        assert resp.status_code == 403, (path, resp.text)
        assert "Host" in resp.json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "promptyard.internal"])
def test_local_and_configured_names_are_served(server: ServerProcess, host: str) -> None:
    for h in (host, f"{host}:{port(server)}"):
        assert httpx.get(f"{server.api}/jobs", headers={"Host": h}).status_code == 200, h


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed iframe or a file:// page
        {"Origin": "http://127.0.0.1:1"},  # another local port is another origin
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site"},  # a browser that sends no Origin on this request
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_cross_site_multipart_upload_is_refused(
    server: ServerProcess, headers: dict[str, str]
) -> None:
    name = f"csrf-{abs(hash(tuple(headers.items())))}"
    resp = upload(server, name, headers)
    assert resp.status_code == 403, resp.text
    assert "cross-site" in resp.json()["detail"]
    assert name not in dataset_names(server)


def test_cross_site_json_writes_are_refused(server: ServerProcess) -> None:
    evil = {"Origin": "https://evil.example"}
    config = {"prompts": ["hi"], "providers": ["echo"], "tests": [{"vars": {}}]}
    assert httpx.post(f"{server.api}/evaluate", json={"config": config},
                      headers=evil).status_code == 403  # fmt: skip
    assert httpx.post(f"{server.api}/prompts", json={"name": "x", "template": "t"},
                      headers=evil).status_code == 403  # fmt: skip
    assert httpx.put(f"{server.api}/prompts/x/labels/prod", json={"version": 1},
                     headers=evil).status_code == 403  # fmt: skip
    assert httpx.post(f"{server.api}/tokens", json={"name": "t", "scopes": ["admin"]},
                      headers=evil).status_code == 403  # fmt: skip
    # Reads stay open to the browser's own rules (no CORS headers: a foreign page can't read).
    read = httpx.get(f"{server.api}/jobs", headers=evil)
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers


def test_own_pages_and_non_browser_clients_still_write(server: ServerProcess) -> None:
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    assert upload(server, "from-own-page", own).status_code == 201
    assert upload(server, "from-the-sdk", {}).status_code == 201  # no Origin, no Sec-Fetch-Site
    typed = {"Sec-Fetch-Site": "none"}  # the user's own navigation
    assert upload(server, "typed", typed).status_code == 201
    assert {"from-own-page", "from-the-sdk", "typed"} <= dataset_names(server)


def test_with_auth_a_configured_cors_origin_may_write(tmp_path: Path) -> None:
    """Behind auth (a public bind) the Host is not checked; a listed CORS origin may write
    with a token, any other origin may not even try."""
    import subprocess
    import sys

    from bench.serverctl import REPO

    db = f"sqlite:///{tmp_path / 'cors.db'}"
    out = subprocess.run(
        [sys.executable, "-m", "promptyard.cli", "token", "create", "--name", "w", "--scope",
         "write", "--db", db],
        capture_output=True, text=True, check=True, env={"PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {out.stdout.strip().splitlines()[-1]}"}
    env = {"PROMPTYARD_AUTH": "true", "PROMPTYARD_CORS_ORIGINS": "https://app.example"}
    with running_server(tmp_path, db=db, env=env, projects_root=tmp_path) as s:
        proxied = {**auth, "Host": "promptyard.example.com"}
        assert httpx.get(f"{s.api}/jobs", headers=proxied).status_code == 200
        ok = upload(s, "cors", {**auth, "Origin": "https://app.example"})
        assert ok.status_code == 201, ok.text
        assert upload(s, "evil", {**auth, "Origin": "https://evil.example"}).status_code == 403
