"""Building the SQLAlchemy engine: driver choice, SQLite pragmas and transaction control."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from promptyard.store.codec import json_dumps
from promptyard.store.common import configure_sqlite
from promptyard.store.urls import normalize_url

# A write transaction asks for this option: SQLite then takes the write lock at BEGIN
# (BEGIN IMMEDIATE), so it waits on busy_timeout instead of failing with SQLITE_BUSY when a
# read-then-write transaction loses a race to another writer.
WRITE = {"promptyard_write": True}


def create_engine(url: str) -> sa.Engine:
    """An engine for `url` (SQLite file, SQLite memory, or PostgreSQL via psycopg v3)."""
    u = make_url(normalize_url(url))
    kwargs: dict[str, Any] = {"json_serializer": json_dumps}
    if u.get_backend_name() == "sqlite":
        memory = u.database in (None, "", ":memory:")
        if memory:
            # One shared connection, else every pooled connection sees its own empty database.
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            Path(u.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(u, **kwargs)
        _sqlite_events(engine, wal=not memory)
        return engine
    # No pool_pre_ping: it costs a round trip on every checkout, i.e. on every commit of the
    # writer. Recycling bounds how stale an idle connection gets instead.
    kwargs.update(pool_recycle=1800)
    return sa.create_engine(u, **kwargs)


def _sqlite_events(engine: sa.Engine, *, wal: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        configure_sqlite(dbapi_conn, wal=wal)  # "begin" below emits the BEGINs

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("promptyard_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
