"""Optimization iterations: each candidate with its scores, cost, parent and decision.

Revision ID: 0004_iterations
Revises: 0003_registry_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_iterations"
down_revision = "0003_registry_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iterations",
        sa.Column("optimization_id", sa.String(36), nullable=False),
        sa.Column("step", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("parent", sa.Integer, nullable=True),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("train_score", sa.Float, nullable=True),
        sa.Column("val_score", sa.Float, nullable=True),
        sa.Column("test_score", sa.Float, nullable=True),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("decision", sa.JSON, nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("optimization_id", "step", name="pk_iterations"),
    )


def downgrade() -> None:
    op.drop_table("iterations")
