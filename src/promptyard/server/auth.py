"""Bearer tokens with scopes, and a per-token rate limit.

Scopes are ordered: `read` < `write` < `admin`; a token holds its scope and those below.
With auth off (loopback only, see app.py) every request acts as an anonymous admin.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

LEVEL = {"read": 1, "write": 2, "admin": 3}


@dataclass(frozen=True, slots=True)
class Caller:
    token_id: str | None  # None: auth is off
    level: int


class RateLimiter:
    """At most `per_minute` requests per caller in any 60 s window (sliding log)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._log: dict[str, deque[float]] = {}

    def check(self, key: str) -> float | None:
        """None when allowed, else the seconds to wait."""
        if self.per_minute <= 0:
            return None
        now = time.monotonic()
        log = self._log.setdefault(key, deque())
        while log and now - log[0] >= 60.0:
            log.popleft()
        if len(log) >= self.per_minute:
            return 60.0 - (now - log[0])
        log.append(now)
        return None


def require(scope: str) -> Callable[[Request], Any]:
    """A FastAPI dependency: the caller, if its token has `scope` (401 / 403 / 429 else)."""
    needed = LEVEL[scope]

    async def dependency(request: Request) -> Caller:
        state = request.app.state
        caller = Caller(None, LEVEL["admin"])
        key = request.client.host if request.client else "?"
        if state.settings.auth:
            header = request.headers.get("authorization", "")
            scheme, _, secret = header.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise HTTPException(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
            record = await asyncio.to_thread(state.store.tokens.verify, secret.strip())
            if record is None:
                raise HTTPException(401, "invalid or revoked token", {"WWW-Authenticate": "Bearer"})
            level = max((LEVEL.get(s, 0) for s in record.scopes), default=0)
            caller = Caller(record.id, level)
            key = record.id
        wait = state.rate_limiter.check(key)
        if wait is not None:
            raise HTTPException(429, "rate limit exceeded", {"Retry-After": str(int(wait) + 1)})
        if caller.level < needed:
            raise HTTPException(403, f"this token lacks the {scope!r} scope")
        return caller

    return dependency
