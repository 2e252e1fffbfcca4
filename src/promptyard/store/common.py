"""What the full Store and the lean SQLite run store (lite.py) share, free of SQLAlchemy: the
schema revision, the run statuses, the settings of every SQLite connection, and how to tell
PostgreSQL's refusal of NUL characters from other driver errors."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

# The newest migration. Store.open compares the database against it to skip Alembic (and its
# import) when the schema is already current; the lean writer opens only such a database.
HEAD_REVISION = "0005_job_leases"

FINISH_STATUSES = frozenset({"succeeded", "failed", "cancelled", "interrupted"})


def check_finish_status(status: str) -> None:
    if status not in FINISH_STATUSES:
        raise ValueError(f"finish_run: status {status!r} is not one of {sorted(FINISH_STATUSES)}")


def refused_nul(error: BaseException | None) -> bool:
    """Whether a driver error is PostgreSQL refusing text with a NUL character (a name or id
    sent by a client: bad input, not a broken database). SQLite stores NUL as it comes."""
    orig = getattr(error, "orig", error)
    return orig is not None and "cannot contain NUL" in str(orig)


BUSY_TIMEOUT_MS = 10_000


def configure_sqlite(dbapi_conn: Any, *, wal: bool) -> None:
    """Settings for every new connection."""
    # Turn off the sqlite3 module's own implicit BEGINs: writers emit BEGIN IMMEDIATE, which
    # also makes DDL transactional (migrations are atomic).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if wal:
        _set_wal(cur)
    # NORMAL under WAL: a commit survives a process crash; only an OS crash or power loss may
    # lose the last commits (the database is never corrupted).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _set_wal(cur: Any) -> None:
    """Switch a new file to WAL. SQLite does not apply the busy timeout to this change, so two
    processes (or threads) opening a fresh file at once can see "database is locked": retry."""
    for attempt in range(50):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.02)
