"""The registry: versioned prompts with labels, versioned datasets, profiles and projects.

The server's contract is docs/server.md ("Store API"). Versions are immutable and numbered
from 1; a new version whose content equals the latest one is not stored again, so importing
the same project twice changes nothing. Deploying is moving a label; `latest` is implicit.

Names are unique per project. In lookups `project=None` is the "no project" namespace (NULL
in the tables); in list_* methods it means every project. Writes that number a new version
lock the parent row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's write transactions are
serial already), so concurrent writers get consecutive versions instead of a key conflict.

Datasets live in datasets.py (RegistryStore inherits them), validation in checks.py and the
record classes in records.py; all are re-exported here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from promptyard.core.hashing import content_hash
from promptyard.core.secrets import find_secret
from promptyard.errors import NotFound, StoreError
from promptyard.store.checks import (
    LATEST,
    ROW_FIELDS,
    SPLITS,
    RowErrors,
    as_mapping,
    check_label,
    check_name,
    check_no_secrets,
    check_project,
    check_rows,
    check_tags,
    check_template,
    parse_ref,
)
from promptyard.store.common import refused_nul
from promptyard.store.datasets import DatasetRegistry
from promptyard.store.part import Page, filters, in_project, named_row, now, page, paged
from promptyard.store.records import (
    DatasetRecord,
    DatasetRow,
    DatasetVersionRecord,
    ProfileRecord,
    ProjectRecord,
    PromptRecord,
    PromptVersionRecord,
)
from promptyard.store.schema import profiles, projects, prompt_labels, prompt_versions, prompts
from promptyard.store.writes import upsert

__all__ = [
    "LATEST",
    "ROW_FIELDS",
    "SPLITS",
    "DatasetRecord",
    "DatasetRow",
    "DatasetVersionRecord",
    "Page",
    "ProfileRecord",
    "ProjectRecord",
    "PromptRecord",
    "PromptVersionRecord",
    "RegistryStore",
    "RowErrors",
    "check_no_secrets",
    "check_rows",
    "parse_ref",
]


class RegistryStore(DatasetRegistry):
    """Prompts, datasets, profiles and projects. Thread-safe; each method is one transaction.

    Built on the engine of an open Store: use `store.registry`.
    """

    # -- prompts --------------------------------------------------------------------------

    def create_prompt(
        self,
        name: str,
        *,
        project: str | None = None,
        template: Any,
        config: Mapping[str, Any] | None = None,
        description: str = "",
        tags: Iterable[str] = (),
        group: str | None = None,
        author: str | None = None,
        message: str = "",
    ) -> PromptRecord:
        """A new prompt with version 1. Conflict if the name is taken in the project."""
        check_name(name, "prompt")
        check_project(project)
        check_printable(project, "project name")
        check_printable(group, "group name")
        tpl, cfg = check_template(template), as_mapping(config, "config")
        tag_list = check_tags(tags)
        at, pid = now(), str(uuid.uuid4())
        taken = f"prompt {name!r}{in_project(project)} already exists; add a version instead"
        with self._errors(f"create prompt {name!r}", conflict=taken), self._write() as conn:
            conn.execute(
                prompts.insert(),
                {
                    "id": pid,
                    "project": project,
                    "name": name,
                    "team": _team(name),
                    "description": description,
                    "tags": tag_list,
                    "group_name": group,
                    "created_at": at,
                    "updated_at": at,
                },
            )
            conn.execute(prompt_versions.insert(), _version_row(pid, 1, tpl, cfg, author, message))
        return PromptRecord(
            pid, project, name, _team(name), description, tuple(tag_list), group, at, at, 1, {}
        )

    def add_prompt_version(
        self,
        name: str,
        *,
        project: str | None = None,
        template: Any,
        config: Mapping[str, Any] | None = None,
        author: str | None = None,
        message: str = "",
    ) -> tuple[PromptVersionRecord, bool]:
        """The next version, or (latest, False) when the content equals the latest version."""
        tpl, cfg = check_template(template), as_mapping(config, "config")
        h = content_hash({"template": tpl, "config": cfg})
        with self._errors(f"add a version to prompt {name!r}"), self._write() as conn:
            p = named_row(conn, prompts, "prompt", name, project, lock=True)
            last = conn.execute(
                sa.select(prompt_versions)
                .where(prompt_versions.c.prompt_id == p.id)
                .order_by(prompt_versions.c.version.desc())
                .limit(1)
            ).one()
            if last.content_hash == h:
                return _version_record(p, last), False
            row = _version_row(p.id, last.version + 1, tpl, cfg, author, message)
            conn.execute(prompt_versions.insert(), row)
            conn.execute(prompts.update().where(prompts.c.id == p.id), {"updated_at": now()})
        return _version_record(p, SimpleNamespace(**row)), True

    def get_prompt(self, name: str, *, project: str | None = None) -> PromptRecord:
        with self._errors(f"read prompt {name!r}"), self.engine.connect() as conn:
            p = named_row(conn, prompts, "prompt", name, project)
            return self._prompt_records(conn, [p])[0]

    def list_prompts(
        self,
        *,
        project: str | None = None,
        tag: str | None = None,
        team: str | None = None,
        group: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[PromptRecord], int]:
        """Prompts matching every filter given, newest first, and how many match in all."""
        where = filters(prompts, project=project, tag=tag, search=search)
        if team is not None:
            where.append(prompts.c.team == team)
        if group is not None:
            where.append(prompts.c.group_name == group)
        with self._errors("list prompts"), self.engine.connect() as conn:
            rows, total = page(conn, prompts, where, limit, offset)
            return self._prompt_records(conn, rows), total

    def list_prompt_versions(
        self, name: str, *, project: str | None = None, limit: int | None = None, offset: int = 0
    ) -> Page[PromptVersionRecord]:
        """A prompt's versions, newest first; `.total` counts them all."""
        v = prompt_versions
        with self._errors(f"list versions of prompt {name!r}"), self.engine.connect() as conn:
            p = named_row(conn, prompts, "prompt", name, project)
            total = conn.execute(sa.select(sa.func.count()).where(v.c.prompt_id == p.id))
            q = sa.select(v).where(v.c.prompt_id == p.id).order_by(v.c.version.desc())
            rows = conn.execute(paged(q, limit, offset)).all()
            return Page((_version_record(p, r) for r in rows), int(total.scalar_one()))

    def get_prompt_version(
        self, name: str, version: int, *, project: str | None = None
    ) -> PromptVersionRecord:
        with self._errors(f"read prompt {name!r}"), self.engine.connect() as conn:
            p = named_row(conn, prompts, "prompt", name, project)
            return _version_record(p, self._version(conn, p, name, version))

    def resolve_prompt(self, ref: str, *, project: str | None = None) -> PromptVersionRecord:
        """`name` (latest version), `name@3` (version 3) or `name:production` (a label)."""
        name, version, label = parse_ref(ref)
        with self._errors(f"resolve prompt {ref!r}"), self.engine.connect() as conn:
            p = named_row(conn, prompts, "prompt", name, project)
            if label is not None and label != LATEST:
                version = conn.execute(
                    sa.select(prompt_labels.c.version).where(
                        prompt_labels.c.prompt_id == p.id, prompt_labels.c.label == label
                    )
                ).scalar()
                if version is None:
                    raise NotFound(f"prompt {name!r}{in_project(project)} has no label {label!r}")
            return _version_record(p, self._version(conn, p, name, version))

    def set_label(
        self,
        name: str,
        label: str,
        version: int,
        *,
        project: str | None = None,
        by: str | None = None,
    ) -> PromptRecord:
        """Point `label` at `version` (deploying); the prompt with its labels after the move."""
        check_label(label)
        with self._errors(f"set label {label!r} of prompt {name!r}"), self._write() as conn:
            p = named_row(conn, prompts, "prompt", name, project, lock=True)
            self._version(conn, p, name, version)
            at = now()
            keys, values = ["prompt_id", "label"], ["version", "updated_at", "updated_by"]
            conn.execute(
                upsert(conn.dialect.name, prompt_labels, keys, values),
                {
                    "prompt_id": p.id,
                    "label": label,
                    "version": version,
                    "updated_at": at,
                    "updated_by": by,
                },
            )
            conn.execute(prompts.update().where(prompts.c.id == p.id), {"updated_at": at})
            p = named_row(conn, prompts, "prompt", name, project)
            return self._prompt_records(conn, [p])[0]

    def delete_label(self, name: str, label: str, *, project: str | None = None) -> None:
        """Remove a label; NotFound if the prompt or the label does not exist."""
        check_label(label)
        with self._errors(f"delete label {label!r} of prompt {name!r}"), self._write() as conn:
            p = named_row(conn, prompts, "prompt", name, project, lock=True)
            gone = conn.execute(
                prompt_labels.delete().where(
                    prompt_labels.c.prompt_id == p.id, prompt_labels.c.label == label
                )
            ).rowcount
            if not gone:
                raise NotFound(f"prompt {name!r}{in_project(project)} has no label {label!r}")

    def set_prompt_tags(
        self, name: str, tags: Iterable[str], *, project: str | None = None
    ) -> PromptRecord:
        """Replace a prompt's tags (lower-cased, duplicates dropped)."""
        tag_list = check_tags(tags)
        with self._errors(f"set tags of prompt {name!r}"), self._write() as conn:
            p = named_row(conn, prompts, "prompt", name, project, lock=True)
            conn.execute(
                prompts.update().where(prompts.c.id == p.id),
                {"tags": tag_list, "updated_at": now()},
            )
            p = named_row(conn, prompts, "prompt", name, project)
            return self._prompt_records(conn, [p])[0]

    @contextmanager
    def _errors(self, what: str, *, conflict: str | None = None) -> Iterator[None]:
        """StorePart._errors, with a name holding NUL (which PostgreSQL refuses even in a
        lookup) answered as bad input (ValueError: 400), not as a broken store (500)."""
        try:
            with super()._errors(what, conflict=conflict):
                yield
        except StoreError as e:
            if refused_nul(e.__cause__):
                raise ValueError("names cannot contain NUL characters") from None
            raise

    def create_dataset(
        self,
        name: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        project: str | None = None,
        **fields: Any,
    ) -> DatasetRecord:
        """DatasetRegistry.create_dataset (uploads and derived datasets too), with the
        project's name checked for control characters first."""
        check_printable(project, "project name")
        return super().create_dataset(name, rows, project=project, **fields)

    # -- profiles and projects ------------------------------------------------------------

    def create_profile(
        self,
        name: str,
        provider_id: str,
        *,
        config: Mapping[str, Any] | None = None,
        label: str | None = None,
        project: str | None = None,
    ) -> ProfileRecord:
        """A named provider; refuses config keys that would hold a secret (ValueError)."""
        check_name(name, "profile")
        check_project(project)
        check_printable(project, "project name")
        check_printable(label, "profile label")
        if not provider_id or not provider_id.strip():
            raise ValueError("a profile needs a provider id, such as 'openai:gpt-4.1-mini'")
        cfg = as_mapping(config, "config")
        check_no_secrets(cfg)
        hidden = find_secret(cfg)  # every token reads profiles: nothing there may be hidden
        if hidden is not None:
            raise ValueError(
                f"profile config key {hidden!r} may hold a credential (header values other "
                "than Content-Type, Accept, User-Agent and the vendors' version headers, and a "
                "URL's user, password and query string are hidden): store secrets by env var "
                "name only, e.g. `api_key_env: OPENAI_API_KEY`"
            )
        rec = ProfileRecord(str(uuid.uuid4()), project, name, provider_id, label, cfg, now())
        taken = f"profile {name!r}{in_project(project)} already exists"
        with self._errors(f"create profile {name!r}", conflict=taken), self._write() as conn:
            conn.execute(profiles.insert(), asdict(rec))
        return rec

    def get_profile(self, name: str, *, project: str | None = None) -> ProfileRecord:
        with self._errors(f"read profile {name!r}"), self.engine.connect() as conn:
            return _profile_record(named_row(conn, profiles, "profile", name, project))

    def list_profiles(
        self, *, project: str | None = None, limit: int | None = None, offset: int = 0
    ) -> Page[ProfileRecord]:
        """Profiles (of every project when `project` is None), newest first, with `.total`."""
        where = filters(profiles, project=project)
        with self._errors("list profiles"), self.engine.connect() as conn:
            rows, total = page(conn, profiles, where, limit, offset)
            return Page((_profile_record(r) for r in rows), total)

    def upsert_project(
        self, name: str, *, description: str = "", root: str | None = None
    ) -> ProjectRecord:
        """Create a project or update its description and root; keeps its created_at."""
        check_project(name)
        check_printable(name, "project name")
        row = {"name": name, "description": description, "root": root, "created_at": now()}
        with self._errors(f"save project {name!r}"), self._write() as conn:
            stmt = upsert(conn.dialect.name, projects, ["name"], ["description", "root"])
            conn.execute(stmt, row)
            got = conn.execute(sa.select(projects).where(projects.c.name == name)).one()
        return ProjectRecord(got.name, got.description, got.root, got.created_at)

    def list_projects(self, *, limit: int | None = None, offset: int = 0) -> Page[ProjectRecord]:
        """Projects, newest first, with `.total`."""
        with self._errors("list projects"), self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(projects)).scalar_one()
            q = sa.select(projects).order_by(projects.c.created_at.desc(), projects.c.name)
            rows = conn.execute(paged(q, limit, offset)).all()
        return Page(
            (ProjectRecord(r.name, r.description, r.root, r.created_at) for r in rows), total
        )

    # -- internals ------------------------------------------------------------------------

    def _version(self, conn: sa.Connection, p: Any, name: str, version: int | None) -> Any:
        v = prompt_versions
        q = sa.select(v).where(v.c.prompt_id == p.id)
        q = q.order_by(v.c.version.desc()) if version is None else q.where(v.c.version == version)
        row = conn.execute(q.limit(1)).first()
        if row is None:
            raise NotFound(f"prompt {name!r}{in_project(p.project)} has no version {version}")
        return row

    def _prompt_records(self, conn: sa.Connection, rows: Sequence[Any]) -> list[PromptRecord]:
        ids = [r.id for r in rows]
        if not ids:
            return []
        v, lab = prompt_versions, prompt_labels
        latest = {
            pid: n
            for pid, n in conn.execute(
                sa.select(v.c.prompt_id, sa.func.max(v.c.version))
                .where(v.c.prompt_id.in_(ids))
                .group_by(v.c.prompt_id)
            )
        }
        labels: dict[str, dict[str, int]] = {i: {} for i in ids}
        q = sa.select(lab.c.prompt_id, lab.c.label, lab.c.version).where(lab.c.prompt_id.in_(ids))
        for pid, label, version in conn.execute(q.order_by(lab.c.label)):
            labels[pid][label] = version
        return [
            PromptRecord(
                r.id,
                r.project,
                r.name,
                r.team,
                r.description,
                tuple(r.tags),
                r.group_name,
                r.created_at,
                r.updated_at,
                int(latest.get(r.id, 0)),
                labels[r.id],
            )
            for r in rows
        ]


def _team(name: str) -> str | None:
    return name.split(".", 1)[0] if "." in name else None


def _version_row(
    pid: str, version: int, tpl: Any, cfg: dict[str, Any], author: str | None, message: str
) -> dict[str, Any]:
    return {
        "prompt_id": pid,
        "version": version,
        "template": tpl,
        "config": cfg,
        "content_hash": content_hash({"template": tpl, "config": cfg}),
        "author": author,
        "message": message,
        "created_at": now(),
    }


def _version_record(p: Any, v: Any) -> PromptVersionRecord:
    return PromptVersionRecord(
        p.id,
        p.project,
        p.name,
        v.version,
        v.template,
        v.config,
        v.content_hash,
        v.author,
        v.message,
        v.created_at,
    )


def _profile_record(r: Any) -> ProfileRecord:
    return ProfileRecord(r.id, r.project, r.name, r.provider_id, r.label, r.config, r.created_at)


# C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional embedding,
# override and isolate controls (which make a name read differently than it sorts).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def check_printable(value: str | None, what: str) -> None:
    """ValueError when a name holds NUL or another control character (PostgreSQL refuses
    NUL outright; the others corrupt logs, terminals and listings)."""
    if value is not None and _UNPRINTABLE.search(value):
        raise ValueError(f"{what} {value!r} must not contain NUL or other control characters")
