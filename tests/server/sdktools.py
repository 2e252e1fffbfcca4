"""Helpers shared by the SDK tests (sync, async, optimize)."""

from __future__ import annotations

import contextlib
import uuid

from promptyard_client import Client
from promptyard_client.errors import ConflictError


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def stop_leftover_jobs(url: str) -> None:
    """Cancel and wait out any job a test left queued or running: the next test starts on an
    idle server (a second job would get 409)."""
    with Client(url) as c:
        for status in ("queued", "running"):
            for job in c.list_jobs(status=status).items:
                with contextlib.suppress(ConflictError):
                    c.cancel_job(job.id)
                c.wait_for_job(job.id, timeout=60, poll_interval=0.1)
