"""create_app: the FastAPI application over one store and one job manager."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptyard.errors import ConfigError
from promptyard.server import errors, limits
from promptyard.server.auth import RateLimiter
from promptyard.server.browser import BrowserGuard
from promptyard.settings import Settings
from promptyard.trust import TrustPolicy

API_TITLE = "Promptyard"


def default_database_url() -> str:
    """The server's SQLite file: $XDG_DATA_HOME/promptyard/promptyard.db."""
    home = os.path.expanduser("~")
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    return f"sqlite:///{Path(base, 'promptyard', 'promptyard.db')}"


def server_database_url(explicit: str | None, settings: Settings) -> str:
    """--db, else PROMPTYARD_DATABASE_URL, else the user's data folder."""
    return explicit or settings.database_url or default_database_url()


def default_projects_root() -> str:
    """The bundled examples/ of a source checkout, else the current folder."""
    bundled = Path(__file__).resolve().parents[3] / "examples"
    return str(bundled if bundled.is_dir() else Path.cwd())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Settings) -> None:
    """Refuse to serve beyond this machine without auth."""
    if settings.auth:
        return
    if not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without auth: set PROMPTYARD_AUTH=true and create a"
            " token (promptyard token create --name admin --scope admin)"
        )


class BodyLimit:
    """413 for request bodies over `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(send, self.limit)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> FastAPI:
    """The API over the store at `database_url` (default: settings, then the user's data
    folder), with settings from the environment unless given. Opening the store, marking jobs
    a previous process left as interrupted, and closing everything happen in the app's
    lifespan. Everything the server's safety needs is here, not in `promptyard serve`, so any
    process manager gets it."""
    if settings is None:
        from promptyard.settings import load_settings

        settings = load_settings()
    from promptyard.jobs.manager import JobManager
    from promptyard.server.routes import admin, datasets, jobs, meta, optimize, prompts, runs
    from promptyard.store import Store

    url = server_database_url(database_url, settings)
    projects_root = settings.projects_root or default_projects_root()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import asyncio

        store = await asyncio.to_thread(Store.open, url)
        manager = JobManager(store.jobs, max_concurrent=settings.max_concurrent_jobs,
                             queue_length=settings.queue_length,
                             lease_s=settings.job_lease_s)  # fmt: skip
        app.state.store = store
        app.state.jobs = manager
        # uvicorn runs this before it binds its port, so a server that then fails to bind has
        # already started: start() takes this server's lease first and marks interrupted only
        # the jobs of servers whose lease has expired, never a live one's; the shutdown below
        # (which uvicorn runs after a failed bind too) gives the lease back.
        try:
            app.state.interrupted = await manager.start()
            from promptyard.server.projects import import_projects

            app.state.imported = await asyncio.to_thread(import_projects, projects_root,
                                                         store.registry)  # fmt: skip
            yield
        finally:
            await manager.close()
            await asyncio.to_thread(store.close)

    app = FastAPI(title=API_TITLE, version="0.1.0", lifespan=lifespan,
                  docs_url="/docs", openapi_url="/openapi.json")  # fmt: skip
    app.state.settings = settings
    # The one trust boundary for everything that arrives over HTTP (docs/security.md).
    app.state.trust = TrustPolicy.server(settings, loopback=is_loopback(settings.host))
    app.state.database_url = url
    app.state.projects_root = projects_root
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    errors.install(app)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"],
                           allow_headers=["*"])  # fmt: skip
    # Inside BodyLimit (which caps what it reads): a body nested deeper than MAX_DEPTH is a 400
    # naming the field, not a RecursionError.
    limits.install(app, app.state.trust.limits)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    # Outermost: a foreign Host or a cross-site write is refused before anything else runs.
    app.add_middleware(BrowserGuard, check_host=not settings.auth,
                       allowed_hosts=settings.allowed_hosts.split(","),
                       allowed_origins=origins)  # fmt: skip
    for module in (meta, jobs, optimize, runs, prompts, datasets, admin):
        app.include_router(module.router, prefix="/api")
    from promptyard.server import ui

    ui.install(app)  # the web UI at / (after /api, which its page paths never shadow)
    return app
