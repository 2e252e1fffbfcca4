"""Table definitions for queries (SQLAlchemy Core).

The schema itself is created and upgraded only by the Alembic migrations in
`store/migrations/versions/`; these objects mirror them for building statements, and
tests/integration/test_store.py checks that the two agree. Change both together and bump
HEAD_REVISION.

Times are UTC ISO-8601 strings (they sort correctly and round-trip exactly); ids are UUID4
strings. JSON columns use the portable JSON type: TEXT on SQLite, `json` (not `jsonb`) on
PostgreSQL, which keeps key order and accepts every string JSON can carry.
"""

from __future__ import annotations

import sqlalchemy as sa

# The newest migration. Store.open compares the database against it to skip Alembic
# (and its import) when the schema is already current.
HEAD_REVISION = "0002_trial_kpis"

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("project", sa.String(200), nullable=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("prompts", sa.JSON, nullable=False),
    sa.Column("providers", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40), nullable=True),
    # Set by finish_run; NULL while trials may still arrive (then counted on read).
    sa.Column("trial_count", sa.Integer, nullable=True),
    sa.Index("ix_runs_created_at", "created_at"),
)

trials = sa.Table(
    "trials",
    metadata,
    sa.Column(
        "run_id", sa.String(36), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
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
    sa.Column("kpis", sa.JSON, nullable=True),  # {values, errors, score} when the run has KPIs
)

# One row per assertion verdict: a query-friendly copy of trials.grading's components.
scores = sa.Table(
    "scores",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("trial_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("assertion_type", sa.String(100), nullable=True),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("metric", sa.String(200), nullable=True),
    sa.ForeignKeyConstraint(
        ["run_id", "trial_index"],
        ["trials.run_id", "trials.idx"],
        ondelete="CASCADE",
        name="fk_scores_trial",
    ),
)

cache = sa.Table(
    "cache",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)
