"""Bearer tokens with scopes, and a rate limit per token or per client.

Scopes are ordered: `read` < `write` < `admin`; a token holds its scope and those below.
With auth off (loopback only, see app.py) every request acts as an anonymous admin, limited
per client address. With auth on, a request with a valid token counts toward its token's
limit; one without a token, or with a bad or revoked one, counts toward its client
address's, and past that limit the answer is 429 instead of 401 (guessing tokens is
throttled; a valid token from the same address is not held back by someone else's guesses).
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
        self._checks = 0

    def check(self, key: str) -> float | None:
        """None when allowed, else the seconds to wait."""
        if self.per_minute <= 0:
            return None
        now = time.monotonic()
        self._checks += 1
        if self._checks % 1024 == 0:  # forget callers idle for a minute (many addresses)
            for idle in [k for k, v in self._log.items() if not v or now - v[-1] >= 60.0]:
                del self._log[idle]
        log = self._log.setdefault(key, deque())
        while log and now - log[0] >= 60.0:
            log.popleft()
        if len(log) >= self.per_minute:
            return 60.0 - (now - log[0])
        log.append(now)
        return None


def _limit(limiter: RateLimiter, key: str) -> None:
    """Count a request toward `key`'s limit: 429 with Retry-After once it is spent."""
    wait = limiter.check(key)
    if wait is not None:
        raise HTTPException(429, "rate limit exceeded", {"Retry-After": str(int(wait) + 1)})


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
            given = secret.strip() if scheme.lower() == "bearer" else ""
            record = await asyncio.to_thread(state.store.tokens.verify, given) if given else None
            if record is None:
                _limit(state.rate_limiter, "client:" + key)  # 429 past the client's limit
                why = "invalid or revoked token" if given else "missing bearer token"
                raise HTTPException(401, why, {"WWW-Authenticate": "Bearer"})
            level = max((LEVEL.get(s, 0) for s in record.scopes), default=0)
            caller = Caller(record.id, level)
            key = record.id
        _limit(state.rate_limiter, key)
        if caller.level < needed:
            raise HTTPException(403, f"this token lacks the {scope!r} scope")
        return caller

    return dependency
