"""Alembic environment: runs on the connection Store.open hands over, inside its transaction.

Migrations are always run programmatically (promptyard.store.migrate); there is no
alembic.ini. The caller has already begun a transaction (and on PostgreSQL taken an
advisory lock), so concurrent openers run migrations one at a time and atomically.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
