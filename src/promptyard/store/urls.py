"""Database URLs: the default location, and normalising what users type.

Kept free of SQLAlchemy imports so callers (CLI, settings) can use it cheaply.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "PROMPTYARD_DATABASE_URL"


def default_database_url(project_dir: str) -> str:
    """$PROMPTYARD_DATABASE_URL if set, else SQLite at <project_dir>/.promptyard/promptyard.db."""
    url = os.environ.get(ENV_VAR, "").strip()
    if url:
        return normalize_url(url)
    path = Path(project_dir).expanduser().resolve() / ".promptyard" / "promptyard.db"
    return f"sqlite:///{path}"


def normalize_url(url: str) -> str:
    """Pick the psycopg (v3) driver for bare PostgreSQL URLs; treat a bare path as SQLite."""
    url = url.strip()
    if "://" not in url:
        if url == ":memory:":
            return "sqlite://"
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    scheme, rest = url.split("://", 1)
    # The store is synchronous (docs/architecture.md): an async driver named in a URL copied
    # from another tool's settings means the same database through ours.
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg_async"):
        return f"postgresql+psycopg://{rest}"
    if scheme in ("sqlite+aiosqlite", "sqlite+pysqlite"):
        return f"sqlite://{rest}"
    return url


def display_url(url: str) -> str:
    """A URL as messages show it: no password, no query string (which may hold one)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "the database URL"
