"""The server's tables: projects, prompts, datasets, profiles (registry), jobs, events, tokens.

Revision ID: 0003_registry_jobs
Revises: 0002_trial_kpis

Names are unique per project with NULL meaning "no project": two partial unique indexes per
table, since UNIQUE(project, name) lets NULL projects repeat a name (see schema.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_registry_jobs"
down_revision = "0002_trial_kpis"
branch_labels = None
depends_on = None

_PER_PROJECT = ("prompts", "datasets", "profiles")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("root", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_projects"),
    )
    op.create_table(
        "prompts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project", sa.String(200), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("team", sa.String(200), nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("group_name", sa.String(200), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prompts"),
    )
    op.create_index("ix_prompts_created_at", "prompts", ["created_at"])
    op.create_table(
        "prompt_versions",
        sa.Column("prompt_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("template", sa.JSON, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "version", name="pk_prompt_versions"),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], ondelete="CASCADE", name="fk_prompt_versions_prompt"
        ),
    )
    op.create_table(
        "prompt_labels",
        sa.Column("prompt_id", sa.String(36), nullable=False),
        sa.Column("label", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("prompt_id", "label", name="pk_prompt_labels"),
        sa.ForeignKeyConstraint(
            ["prompt_id", "version"],
            ["prompt_versions.prompt_id", "prompt_versions.version"],
            ondelete="CASCADE",
            name="fk_prompt_labels_version",
        ),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project", sa.String(200), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
    )
    op.create_index("ix_datasets_created_at", "datasets", ["created_at"])
    op.create_table(
        "dataset_versions",
        sa.Column("dataset_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("derived_from", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("dataset_id", "version", name="pk_dataset_versions"),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], ondelete="CASCADE", name="fk_dataset_versions_dataset"
        ),
    )
    op.create_table(
        "dataset_rows",
        sa.Column("dataset_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("idx", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("vars", sa.JSON, nullable=False),
        sa.Column("assert", sa.JSON, nullable=False),
        sa.Column("expected", sa.JSON, nullable=True),
        sa.Column("split", sa.String(20), nullable=True),
        sa.Column("metadata", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("dataset_id", "version", "idx", name="pk_dataset_rows"),
        sa.ForeignKeyConstraint(
            ["dataset_id", "version"],
            ["dataset_versions.dataset_id", "dataset_versions.version"],
            ondelete="CASCADE",
            name="fk_dataset_rows_version",
        ),
    )
    op.create_table(
        "profiles",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project", sa.String(200), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("provider_id", sa.Text, nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_profiles"),
    )
    op.create_index("ix_profiles_created_at", "profiles", ["created_at"])
    some, none = sa.text("project IS NOT NULL"), sa.text("project IS NULL")
    for table in _PER_PROJECT:
        op.create_index(
            f"uq_{table}_project_name",
            table,
            ["project", "name"],
            unique=True,
            sqlite_where=some,
            postgresql_where=some,
        )
        op.create_index(
            f"uq_{table}_name",
            table,
            ["name"],
            unique=True,
            sqlite_where=none,
            postgresql_where=none,
        )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), nullable=False),
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
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_table(
        "events",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("step_index", sa.Integer, nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "seq", name="pk_events"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE", name="fk_events_job"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("last_used_at", sa.String(40), nullable=True),
        sa.Column("revoked_at", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
    )
    op.create_index("uq_tokens_token_hash", "tokens", ["token_hash"], unique=True)
    op.create_index("ix_tokens_prefix", "tokens", ["prefix"])


def downgrade() -> None:
    op.drop_table("tokens")
    op.drop_table("events")
    op.drop_table("jobs")
    op.drop_table("profiles")
    op.drop_table("dataset_rows")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
    op.drop_table("prompt_labels")
    op.drop_table("prompt_versions")
    op.drop_table("prompts")
    op.drop_table("projects")
