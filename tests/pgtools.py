"""PostgreSQL for tests: the local server (127.0.0.1:5432, database `test`) when reachable,
one fresh schema per use, dropped afterwards; a clear skip reason when it is not reachable."""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_HOST = "127.0.0.1:5432"


@functools.cache
def pg_user() -> tuple[str | None, str]:
    """A user that can log in to database `test`, or None and why not."""
    import psycopg

    why = ""
    for user in ("postgres", "root"):
        try:
            with psycopg.connect(f"postgresql://{user}@{PG_HOST}/test", connect_timeout=2):
                return user, ""
        except psycopg.Error as e:
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return None, why


@contextlib.contextmanager
def pg_schema_url(prefix: str) -> Iterator[str]:
    """A URL whose search_path is a new, empty schema (plain postgresql://: the store picks
    its driver itself); skips the test when PostgreSQL is not reachable."""
    user, why = pg_user()
    if user is None:
        pytest.skip(
            f"PostgreSQL not reachable at {PG_HOST} (database test, user postgres/root): {why}"
        )
    import psycopg

    schema = f"t_{prefix}_{uuid.uuid4().hex[:16]}"
    admin = f"postgresql://{user}@{PG_HOST}/test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql://{user}@{PG_HOST}/test?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextlib.contextmanager
def backend_url(backend: str, tmp: Path, prefix: str) -> Iterator[str]:
    """A database URL for a test parametrized over backends: a SQLite file in `tmp`, or a
    fresh PostgreSQL schema named after `prefix` (skipped, saying why, when unreachable)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'server.db'}"
        return
    with pg_schema_url(prefix) as url:
        yield url
