"""Auth over real HTTP: hashed tokens with scopes, 401/403, refusal to bind beyond loopback
without auth, and the token CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from bench.serverctl import REPO, free_port, running_server


def token(db: str, scope: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "promptyard.cli", "token", "create", "--name", f"t-{scope}",
         "--scope", scope, "--db", db],
        capture_output=True, text=True, check=True, env={"PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    secret = out.stdout.strip().splitlines()[-1]
    assert secret.startswith("pyd_"), out.stdout
    return secret


def test_scopes_are_enforced(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'auth.db'}"
    admin, reader = token(db, "admin"), token(db, "read")
    with running_server(tmp_path, db=db, env={"PROMPTYARD_AUTH": "true"}) as s:
        assert httpx.get(f"{s.api}/health").status_code == 200  # open: for load balancers
        assert httpx.get(f"{s.api}/jobs").status_code == 401
        bad = httpx.get(f"{s.api}/jobs", headers={"Authorization": "Bearer pyd_wrong"})
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
        read = {"Authorization": f"Bearer {reader}"}
        assert httpx.get(f"{s.api}/jobs", headers=read).status_code == 200
        denied = httpx.post(f"{s.api}/prompts", json={"name": "p", "template": "t"}, headers=read)
        assert denied.status_code == 403
        adm = {"Authorization": f"Bearer {admin}"}
        created = httpx.post(f"{s.api}/tokens", json={"name": "ci", "scopes": ["write"]},
                             headers=adm).json()  # fmt: skip
        writer = {"Authorization": f"Bearer {created['secret']}"}
        assert httpx.post(f"{s.api}/prompts", json={"name": "p", "template": "t"},
                          headers=writer).status_code == 201  # fmt: skip
        listed = httpx.get(f"{s.api}/tokens", headers=adm)
        assert created["secret"] not in listed.text and "token_hash" not in listed.text
        assert httpx.get(f"{s.api}/tokens", headers=writer).status_code == 403
        assert httpx.delete(f"{s.api}/tokens/{created['id']}", headers=adm).status_code == 204
        assert httpx.get(f"{s.api}/jobs", headers=writer).status_code == 401
    assert reader not in (tmp_path / "auth.db").read_bytes().decode("latin-1")


def test_refuses_a_public_bind_without_auth(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "promptyard.cli", "serve", "--host", "0.0.0.0", "--port",
         str(free_port()), "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True, text=True, timeout=30, env={"PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    assert out.returncode == 1
    assert "without auth" in out.stdout + out.stderr


def test_rate_limit_per_caller(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"PROMPTYARD_RATE_LIMIT_PER_MINUTE": "5"}) as s:
        codes = [httpx.get(f"{s.api}/jobs").status_code for _ in range(7)]
        assert codes[:5] == [200] * 5 and codes[5] == 429
        limited = httpx.get(f"{s.api}/jobs")
        assert int(limited.headers["retry-after"]) >= 1


def test_cors_is_off_unless_configured(tmp_path: Path) -> None:
    origin = {"Origin": "https://yard.example", "Access-Control-Request-Method": "GET"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with running_server(tmp_path / "a") as closed:
        resp = httpx.options(f"{closed.api}/jobs", headers=origin)
        assert "access-control-allow-origin" not in resp.headers
    env = {"PROMPTYARD_CORS_ORIGINS": "https://yard.example"}
    with running_server(tmp_path / "b", env=env) as open_:
        resp = httpx.options(f"{open_.api}/jobs", headers=origin)
        assert resp.headers["access-control-allow-origin"] == "https://yard.example"
        other = httpx.options(
            f"{open_.api}/jobs", headers={**origin, "Origin": "https://evil.example"}
        )
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"
