"""Initial schema: runs, trials, scores, cache.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project", sa.String(200), nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("prompts", sa.JSON, nullable=False),
        sa.Column("providers", sa.JSON, nullable=False),
        sa.Column("summary", sa.JSON, nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40), nullable=True),
        sa.Column("trial_count", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_table(
        "trials",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("case_index", sa.Integer, nullable=False),
        sa.Column("case_id", sa.String(128), nullable=False),
        sa.Column("prompt_id", sa.Text, nullable=False),
        sa.Column("prompt_label", sa.Text, nullable=False),
        sa.Column("provider_id", sa.Text, nullable=False),
        sa.Column("provider_label", sa.Text, nullable=False),
        sa.Column("sample", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("vars", sa.JSON, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("output", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("grading", sa.JSON, nullable=True),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("latency_ms", sa.Double, nullable=False),
        sa.Column("cost", sa.Double, nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("total_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("raw", sa.JSON, nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "idx", name="pk_trials"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE", name="fk_trials_run"),
    )
    op.create_table(
        "scores",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("trial_index", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("position", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("assertion_type", sa.String(100), nullable=True),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("metric", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "trial_index", "position", name="pk_scores"),
        sa.ForeignKeyConstraint(
            ["run_id", "trial_index"],
            ["trials.run_id", "trials.idx"],
            ondelete="CASCADE",
            name="fk_scores_trial",
        ),
    )
    op.create_table(
        "cache",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_cache"),
    )


def downgrade() -> None:
    op.drop_table("cache")
    op.drop_table("scores")
    op.drop_table("trials")
    op.drop_index("ix_runs_created_at", table_name="runs")
    op.drop_table("runs")
