"""What a web browser (and the network) may do to this server (docs/security.md).

Any page a user visits can make their browser send requests to 127.0.0.1. Two guards, as
Jupyter's server has them:
- DNS rebinding: a hostile name that resolves to 127.0.0.1 makes its page same-origin with
  us. Without auth (loopback only), a request must name us by a local `Host` (localhost,
  127.0.0.1, [::1], or a name the operator lists in PROMPTYARD_ALLOWED_HOSTS).
- Cross-site writes (CSRF): a form or fetch from another site can POST without reading the
  answer, multipart uploads included. A state-changing request whose `Origin` is not ours (or
  an allowed CORS origin), or whose `Sec-Fetch-Site` says another site sent it, is refused.
  Clients that are not browsers (the SDK, curl, exporters) send neither header and pass.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sec-Fetch-Site values a browser sends for our own pages, and for a user's own navigation.
_OWN_FETCH_SITES = frozenset({b"same-origin", b"none"})


class BrowserGuard:
    """ASGI middleware: 403 for a foreign Host (when `check_host`) and cross-site writes."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        check_host: bool,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.check_host = check_host
        self.hosts = LOCAL_HOSTS | {h.strip().lower() for h in allowed_hosts if h.strip()}
        self.origins = frozenset(o.strip().rstrip("/").lower() for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if self.check_host and not _arrived_on_loopback(scope):
            # Without auth, only this machine may talk to us, whatever started the server
            # (`promptyard serve` refuses such a bind; another process manager may not).
            await _forbid(send, "this server has no auth, so it answers only on loopback: set"
                          " PROMPTYARD_AUTH=true and use a token")  # fmt: skip
            return
        if self.check_host and _host_name(host) not in self.hosts:
            await _forbid(send, "unknown Host header: this server answers only to local names"
                          " (add yours to PROMPTYARD_ALLOWED_HOSTS)")  # fmt: skip
            return
        if scope["method"] not in SAFE_METHODS and not self._same_site(headers, host, scope):
            await _forbid(send, "cross-site request refused: state-changing requests must come"
                          " from this server's own pages or an allowed CORS origin")  # fmt: skip
            return
        await self.app(scope, receive, send)

    def _same_site(self, headers: dict[bytes, bytes], host: str, scope: Scope) -> bool:
        origin = headers.get(b"origin")
        if origin is not None:
            value = origin.decode("latin-1").strip().rstrip("/").lower()
            return value in self.origins or _origin_host(value, scope) == host
        fetch_site = headers.get(b"sec-fetch-site")
        return fetch_site is None or fetch_site.lower() in _OWN_FETCH_SITES


def _arrived_on_loopback(scope: Scope) -> bool:
    """Whether the connection came in on a loopback address (a Unix socket counts)."""
    server = scope.get("server")
    if not server or server[1] is None:
        return True
    try:
        return ipaddress.ip_address(str(server[0]).strip("[]")).is_loopback
    except ValueError:
        return str(server[0]) == "localhost"


def _host_name(host: str) -> str:
    """ "127.0.0.1:6969" -> "127.0.0.1"; "[::1]:80" -> "[::1]"."""
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _origin_host(origin: str, scope: Scope) -> str | None:
    """The host[:port] an Origin names, in the form a Host header has ("null" -> None)."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.scheme != scope.get("scheme", "http"):
        return None
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 443 if parts.scheme == "https" else 80
    return name if parts.port in (None, default) else f"{name}:{parts.port}"


async def _forbid(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
