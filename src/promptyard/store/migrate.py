"""Bring a database to the newest schema with Alembic, run programmatically.

Opening a current database costs one SELECT: Alembic is imported only when there is
something to do. Migrations run inside one transaction that serialises concurrent
openers (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from promptyard.errors import StoreError
from promptyard.store.common import HEAD_REVISION
from promptyard.store.engine import WRITE

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Arbitrary constant key for pg_advisory_xact_lock ("promptyd" in ASCII).
_PG_LOCK_KEY = 0x70726F6D70747964


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision stored in the database, or None for an empty database."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        return None if row is None else str(row[0])


def upgrade(engine: sa.Engine) -> None:
    """Migrate to head; a no-op (one query) when the database is already current."""
    rev = current_revision(engine)
    if rev == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(cfg)
    if rev is not None and rev not in {s.revision for s in script.walk_revisions()}:
        raise StoreError(
            f"{engine.url.render_as_string(hide_password=True)}: database schema revision "
            f"{rev!r} is unknown to this version of promptyard (created by a newer release?)"
        )
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        # Another opener may have migrated while we waited for the lock.
        if MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION:
            return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
