"""A real Promptyard server for tests: `promptyard serve` in a subprocess on 127.0.0.1 at a
random port, with its own SQLite file, waited for until /api/health answers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    url: str  # http://127.0.0.1:PORT
    db: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def api(self) -> str:
        return self.url + "/api"

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_server(
    tmp: Path,
    *,
    env: dict[str, str] | None = None,
    db: str | None = None,
    projects_root: Path | None = None,
    port: int | None = None,
) -> ServerProcess:
    port = port or free_port()
    db = db or f"sqlite:///{tmp / 'server.db'}"
    log = tmp / f"server-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMPTYARD_", "PYTEST_"))}
    full_env.update({"PYTHONPATH": str(REPO / "src"), "PYTHONUNBUFFERED": "1"})
    full_env.update(env or {})
    args = [sys.executable, "-m", "promptyard.cli", "serve", "--port", str(port), "--db", db]
    if projects_root is not None:
        args += ["--projects-root", str(projects_root)]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=tmp, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    server = ServerProcess(f"http://127.0.0.1:{port}", db, proc, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{server.output()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.api + "/health", timeout=1.0).status_code == 200:
                return server
        time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"the server did not answer within {START_TIMEOUT_S} s:\n{server.output()}")


@contextlib.contextmanager
def running_server(tmp: Path, **kwargs: object) -> Iterator[ServerProcess]:
    server = start_server(tmp, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
