"""Table definitions for queries (SQLAlchemy Core).

The schema itself is created and upgraded only by the Alembic migrations in
`store/migrations/versions/`; these objects mirror them for building statements, and
tests/integration/test_store.py checks that the two agree. Change both together, bump
HEAD_REVISION (store/common.py), and update the lean store's statements (store/lite.py; its
test names any column they miss).

Times are UTC ISO-8601 strings (they sort correctly and round-trip exactly); ids are UUID4
strings. JSON columns use the portable JSON type: TEXT on SQLite, `json` (not `jsonb`) on
PostgreSQL, which keeps key order and accepts every string JSON can carry.

Registry tables (prompts, datasets, profiles) are unique by (project, name) where `project` is
NULL for "no project". A plain UNIQUE(project, name) would let NULL projects repeat a name on
both backends, so each gets two partial unique indexes: (project, name) where project IS NOT
NULL, and (name) where project IS NULL. Alembic's comparison does not look at the WHERE
clause, so tests/integration/test_store_registry.py checks the behaviour itself.
"""

from __future__ import annotations

import sqlalchemy as sa

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


# -- registry, jobs, tokens (migration 0003_registry_jobs; contract in docs/server.md) -------


def _unique_per_project(table: str, *cols: str) -> tuple[sa.Index, sa.Index]:
    """Uniqueness of `cols` within a project, NULL (no project) counting as one project."""
    some, none = sa.text("project IS NOT NULL"), sa.text("project IS NULL")
    return (
        sa.Index(
            f"uq_{table}_project_name",
            "project",
            *cols,
            unique=True,
            sqlite_where=some,
            postgresql_where=some,
        ),
        sa.Index(f"uq_{table}_name", *cols, unique=True, sqlite_where=none, postgresql_where=none),
    )


projects = sa.Table(
    "projects",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("root", sa.Text, nullable=True),  # the folder it was imported from
    sa.Column("created_at", sa.String(40), nullable=False),
)

prompts = sa.Table(
    "prompts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("project", sa.String(200), nullable=True),
    sa.Column("name", sa.String(200), nullable=False),  # qualified: "team.name" or "name"
    sa.Column("team", sa.String(200), nullable=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("group_name", sa.String(200), nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    *_unique_per_project("prompts", "name"),
    sa.Index("ix_prompts_created_at", "created_at"),
)

prompt_versions = sa.Table(
    "prompt_versions",
    metadata,
    sa.Column(
        "prompt_id",
        sa.String(36),
        sa.ForeignKey("prompts.id", ondelete="CASCADE", name="fk_prompt_versions_prompt"),
        primary_key=True,
    ),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("template", sa.JSON, nullable=False),  # a string or a list of chat messages
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("author", sa.String(200), nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

prompt_labels = sa.Table(
    "prompt_labels",
    metadata,
    sa.Column("prompt_id", sa.String(36), primary_key=True),
    sa.Column("label", sa.String(40), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=True),
    sa.ForeignKeyConstraint(
        ["prompt_id", "version"],
        ["prompt_versions.prompt_id", "prompt_versions.version"],
        ondelete="CASCADE",
        name="fk_prompt_labels_version",
    ),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("project", sa.String(200), nullable=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    *_unique_per_project("datasets", "name"),
    sa.Index("ix_datasets_created_at", "created_at"),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column(
        "dataset_id",
        sa.String(36),
        sa.ForeignKey("datasets.id", ondelete="CASCADE", name="fk_dataset_versions_dataset"),
        primary_key=True,
    ),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("author", sa.String(200), nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("derived_from", sa.JSON, nullable=True),  # the source and filter that made it
)

dataset_rows = sa.Table(
    "dataset_rows",
    metadata,
    sa.Column("dataset_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("vars", sa.JSON, nullable=False),
    sa.Column("assert", sa.JSON, nullable=False),
    sa.Column("expected", sa.JSON, nullable=True),
    sa.Column("split", sa.String(20), nullable=True),  # train, val, test or NULL
    sa.Column("metadata", sa.JSON, nullable=True),
    sa.ForeignKeyConstraint(
        ["dataset_id", "version"],
        ["dataset_versions.dataset_id", "dataset_versions.version"],
        ondelete="CASCADE",
        name="fk_dataset_rows_version",
    ),
)

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("project", sa.String(200), nullable=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("provider_id", sa.Text, nullable=False),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Column("config", sa.JSON, nullable=False),  # secrets only as env var names
    sa.Column("created_at", sa.String(40), nullable=False),
    *_unique_per_project("profiles", "name"),
    sa.Index("ix_profiles_created_at", "created_at"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("project", sa.String(200), nullable=True),
    sa.Column("manifest", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("run_id", sa.String(36), nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=True),
    sa.Column("finished_at", sa.String(40), nullable=True),
    sa.Column("created_by", sa.String(36), nullable=True),  # a token id
    # The server (servers.id) that accepted or resumed it; NULL for jobs older than 0005.
    sa.Column("owner", sa.String(36), nullable=True),
    sa.Index("ix_jobs_created_at", "created_at"),
    sa.Index("ix_jobs_status", "status"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column(
        "job_id",
        sa.String(36),
        sa.ForeignKey("jobs.id", ondelete="CASCADE", name="fk_events_job"),
        primary_key=True,
    ),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("step_index", sa.Integer, nullable=False),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),  # sha256 hex; never the secret
    sa.Column("prefix", sa.String(16), nullable=False),  # shown to people, and the lookup key
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("last_used_at", sa.String(40), nullable=True),
    sa.Column("revoked_at", sa.String(40), nullable=True),
    sa.Index("uq_tokens_token_hash", "token_hash", unique=True),
    sa.Index("ix_tokens_prefix", "prefix"),
)

# -- server leases (migration 0005_job_leases; docs/server.md) --------------------------------

# One row per running server process: its lease on the jobs it owns, renewed by a heartbeat.
# A job whose owner has no row, or a row whose expires_at has passed, may be taken over.
servers = sa.Table(
    "servers",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("renewed_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),  # UTC ISO-8601, as every time
)

# -- optimizations (migration 0004_iterations; contract in docs/optimize.md) --------------

iterations = sa.Table(
    "iterations",
    metadata,
    # the optimization: a job id on the server, a fresh id in the library (no foreign key)
    sa.Column("optimization_id", sa.String(36), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("parent", sa.Integer, nullable=True),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("train_score", sa.Float, nullable=True),
    sa.Column("val_score", sa.Float, nullable=True),
    sa.Column("test_score", sa.Float, nullable=True),
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Column("decision", sa.JSON, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
)
