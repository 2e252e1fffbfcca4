"""`promptyard serve`: the API (and later the UI) under uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EXIT_ERROR = 1


def serve_command(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (6969).")] = None,
    projects_root: Annotated[
        Path | None,
        typer.Option("--projects-root", help="Folder of projects (default: bundled examples/)."),
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
) -> None:
    """Serve the REST API under /api (OpenAPI docs at /docs)."""
    import dataclasses

    import uvicorn

    from promptyard.cli import render
    from promptyard.errors import PromptyardError
    from promptyard.server import create_app
    from promptyard.server.factory import check_bind
    from promptyard.settings import load_settings

    try:
        settings = load_settings()
        if projects_root is not None:
            settings = dataclasses.replace(settings, projects_root=str(projects_root.resolve()))
        bind_host = host or settings.host
        # The app's policy depends on where it listens (a loopback server may call loopback).
        settings = dataclasses.replace(settings, host=bind_host)
        check_bind(bind_host, settings)
        app = create_app(settings, database_url=db)
    except PromptyardError as exc:
        render.print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    # Idle keep-alive connections live 30 s (uvicorn's 5 s makes busy clients reuse sockets
    # the server just closed). uvloop and httptools are used when installed (~30% faster).
    uvicorn.run(app, host=bind_host, port=port or settings.port, log_level="info",
                timeout_graceful_shutdown=5, timeout_keep_alive=30)  # fmt: skip
