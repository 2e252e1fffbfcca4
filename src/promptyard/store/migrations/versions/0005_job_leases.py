"""Server leases: each server process holds a renewed lease, and each job names its owner.

Revision ID: 0005_job_leases
Revises: 0004_iterations

A server marks `interrupted` only the jobs whose owner's lease has expired, and a job whose
owner is alive cannot be resumed by another server (docs/server.md, "Jobs across servers").
The table and column are created only where missing, so that a database whose revision was
set back by hand (as tests do to imitate an older release) still migrates.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_job_leases"
down_revision = "0004_iterations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("servers"):
        op.create_table(
            "servers",
            sa.Column("id", sa.String(36), nullable=False),
            sa.Column("host", sa.String(255), nullable=False),
            sa.Column("pid", sa.Integer, nullable=False),
            sa.Column("started_at", sa.String(40), nullable=False),
            sa.Column("renewed_at", sa.String(40), nullable=False),
            sa.Column("expires_at", sa.String(40), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_servers"),
        )
    if "owner" not in {c["name"] for c in inspector.get_columns("jobs")}:
        with op.batch_alter_table("jobs") as batch:
            batch.add_column(sa.Column("owner", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("owner")
    op.drop_table("servers")
