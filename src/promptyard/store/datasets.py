"""Versioned datasets of test cases: the dataset half of the registry (see registry.py).

A version's rows are written once and never changed; a new version whose rows equal the
latest one's is not stored again. Rows keep their order (`idx`). Deriving a dataset copies
the rows of the source's latest version that pass a filter, and records source and filter.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from promptyard.core.hashing import canonical_json, content_hash
from promptyard.errors import NotFound
from promptyard.store.checks import SPLITS, check_name, check_project, check_rows, check_tags
from promptyard.store.part import Page, StorePart, filters, in_project, named_row, now, page, paged
from promptyard.store.records import DatasetRecord, DatasetRow, DatasetVersionRecord
from promptyard.store.schema import dataset_rows as case_rows
from promptyard.store.schema import dataset_versions, datasets


class DatasetRegistry(StorePart):
    """Datasets, their versions and rows. RegistryStore inherits these methods."""

    def create_dataset(
        self,
        name: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        project: str | None = None,
        description: str = "",
        tags: Iterable[str] = (),
        author: str | None = None,
        message: str = "",
        derived_from: Mapping[str, Any] | None = None,
    ) -> DatasetRecord:
        """A new dataset whose version 1 holds `rows` (RowErrors lists every bad row)."""
        check_name(name, "dataset")
        check_project(project)
        cases, tag_list = check_rows(rows), check_tags(tags)
        at, did = now(), str(uuid.uuid4())
        taken = f"dataset {name!r}{in_project(project)} already exists; add a version instead"
        with self._errors(f"create dataset {name!r}", conflict=taken), self._write() as conn:
            conn.execute(
                datasets.insert(),
                {
                    "id": did,
                    "project": project,
                    "name": name,
                    "description": description,
                    "tags": tag_list,
                    "created_at": at,
                    "updated_at": at,
                },
            )
            _insert_version(conn, did, 1, cases, author, message, derived_from, at)
        splits: dict[str, int] = {}
        for case in cases:
            key = case.get("split") or "unsplit"
            splits[key] = splits.get(key, 0) + 1
        return DatasetRecord(
            did, project, name, description, tuple(tag_list), at, at, 1, len(cases), splits
        )

    def add_dataset_version(
        self,
        name: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        project: str | None = None,
        author: str | None = None,
        message: str = "",
    ) -> tuple[DatasetVersionRecord, bool]:
        """The next version, or (latest, False) when the rows equal the latest version's."""
        cases = check_rows(rows)
        v = dataset_versions
        with self._errors(f"add a version to dataset {name!r}"), self._write() as conn:
            d = named_row(conn, datasets, "dataset", name, project, lock=True)
            last = conn.execute(
                sa.select(v).where(v.c.dataset_id == d.id).order_by(v.c.version.desc()).limit(1)
            ).one()
            if last.content_hash == content_hash(cases):
                return _version_record(d, last), False
            at = now()
            row = _insert_version(conn, d.id, last.version + 1, cases, author, message, None, at)
            conn.execute(datasets.update().where(datasets.c.id == d.id), {"updated_at": at})
        return _version_record(d, SimpleNamespace(**row)), True

    def get_dataset(self, name: str, *, project: str | None = None) -> DatasetRecord:
        """The dataset with its latest version number and that version's row count."""
        with self._errors(f"read dataset {name!r}"), self.engine.connect() as conn:
            d = named_row(conn, datasets, "dataset", name, project)
            return _records(conn, [d])[0]

    def list_datasets(
        self,
        *,
        project: str | None = None,
        tag: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[DatasetRecord], int]:
        """Datasets matching every filter given, newest first, and how many match in all."""
        where = filters(datasets, project=project, tag=tag, search=search)
        with self._errors("list datasets"), self.engine.connect() as conn:
            rows, total = page(conn, datasets, where, limit, offset)
            return _records(conn, rows), total

    def list_dataset_versions(
        self, name: str, *, project: str | None = None, limit: int | None = None, offset: int = 0
    ) -> Page[DatasetVersionRecord]:
        """A dataset's versions, newest first; `.total` counts them all."""
        v = dataset_versions
        with self._errors(f"list versions of dataset {name!r}"), self.engine.connect() as conn:
            d = named_row(conn, datasets, "dataset", name, project)
            total = conn.execute(sa.select(sa.func.count()).where(v.c.dataset_id == d.id))
            q = sa.select(v).where(v.c.dataset_id == d.id).order_by(v.c.version.desc())
            rows = conn.execute(paged(q, limit, offset)).all()
            return Page((_version_record(d, r) for r in rows), int(total.scalar_one()))

    def delete_dataset(self, name: str, *, project: str | None = None) -> None:
        """Delete a dataset with every version and row."""
        with self._errors(f"delete dataset {name!r}"), self._write() as conn:
            d = named_row(conn, datasets, "dataset", name, project, lock=True)
            # Children first, explicitly, rather than trusting ON DELETE CASCADE to be on.
            conn.execute(case_rows.delete().where(case_rows.c.dataset_id == d.id))
            conn.execute(dataset_versions.delete().where(dataset_versions.c.dataset_id == d.id))
            conn.execute(datasets.delete().where(datasets.c.id == d.id))

    def dataset_rows(
        self,
        name: str,
        *,
        project: str | None = None,
        version: int | None = None,
        split: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[DatasetRow], int]:
        """Rows of a version (default the latest) in row order, and how many match in all.

        Row order, not newest first: a dataset's order is its own. `limit=None` reads all.
        """
        _check_split(split)
        r = case_rows
        with self._errors(f"read rows of dataset {name!r}"), self.engine.connect() as conn:
            d = named_row(conn, datasets, "dataset", name, project)
            n = _version_row(conn, d, version).version
            where = [r.c.dataset_id == d.id, r.c.version == n]
            if split is not None:
                where.append(r.c.split == split)
            total = conn.execute(sa.select(sa.func.count()).select_from(r).where(*where))
            q = paged(sa.select(r).where(*where).order_by(r.c.idx), limit, offset)
            return [_row(x) for x in conn.execute(q)], int(total.scalar_one())

    def derive_dataset(
        self,
        source: str,
        new_name: str,
        *,
        project: str | None = None,
        split: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        search: str | None = None,
        description: str | None = None,
        author: str | None = None,
    ) -> DatasetRecord:
        """A new dataset (version 1) of the source's latest rows that pass every filter given.

        `metadata` keeps rows whose metadata has each key with an equal value; `search` is a
        case-insensitive substring of the row's description, vars or expected. The source,
        its version and the filter are recorded in the new version's `derived_from`.
        """
        _check_split(split)
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ValueError("the metadata filter must be an object of key: value")
        src = self.get_dataset(source, project=project)
        rows, _ = self.dataset_rows(source, project=project, version=src.latest_version)
        want = dict(metadata or {})
        needle = None if search is None else search.lower()
        picked = [
            row.case()
            for row in rows
            if (split is None or row.split == split)
            and all(k in row.metadata and row.metadata[k] == v for k, v in want.items())
            and (needle is None or needle in _searchable(row))
        ]
        made = f"derived from {source} v{src.latest_version}"
        origin = {
            "dataset": source,
            "dataset_id": src.id,
            "version": src.latest_version,
            "filter": {"split": split, "metadata": want, "search": search},
        }
        return self.create_dataset(
            new_name,
            picked,
            project=project,
            description=made if description is None else description,
            tags=src.tags,
            author=author,
            message=made,
            derived_from=origin,
        )


def _check_split(split: str | None) -> None:
    if split is not None and split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")


def _version_row(conn: sa.Connection, d: Any, version: int | None) -> Any:
    v = dataset_versions
    q = sa.select(v).where(v.c.dataset_id == d.id)
    q = q.order_by(v.c.version.desc()) if version is None else q.where(v.c.version == version)
    row = conn.execute(q.limit(1)).first()
    if row is None:
        raise NotFound(f"dataset {d.name!r}{in_project(d.project)} has no version {version}")
    return row


def _records(conn: sa.Connection, rows: Sequence[Any]) -> list[DatasetRecord]:
    """Records for dataset rows, with their latest version and its row count (one query)."""
    ids = [r.id for r in rows]
    if not ids:
        return []
    v = dataset_versions
    newest = (
        sa.select(v.c.dataset_id, sa.func.max(v.c.version).label("version"))
        .where(v.c.dataset_id.in_(ids))
        .group_by(v.c.dataset_id)
        .subquery()
    )
    q = sa.select(v.c.dataset_id, v.c.version, v.c.row_count).join(
        newest, sa.and_(v.c.dataset_id == newest.c.dataset_id, v.c.version == newest.c.version)
    )
    latest = {d: (n, c) for d, n, c in conn.execute(q)}
    # Rows per split of the newest version (rows without one count as "unsplit").
    c = case_rows
    per_split = (
        sa.select(c.c.dataset_id, c.c.split, sa.func.count())
        .join(
            newest,
            sa.and_(c.c.dataset_id == newest.c.dataset_id, c.c.version == newest.c.version),
        )
        .group_by(c.c.dataset_id, c.c.split)
    )
    splits: dict[str, dict[str, int]] = {}
    for did, split, n in conn.execute(per_split):
        splits.setdefault(did, {})[split or "unsplit"] = int(n)
    return [
        DatasetRecord(
            r.id,
            r.project,
            r.name,
            r.description,
            tuple(r.tags),
            r.created_at,
            r.updated_at,
            *latest.get(r.id, (0, 0)),
            splits.get(r.id, {}),
        )
        for r in rows
    ]


def _insert_version(
    conn: sa.Connection,
    did: str,
    version: int,
    cases: list[dict[str, Any]],
    author: str | None,
    message: str,
    derived_from: Mapping[str, Any] | None,
    at: str,
) -> dict[str, Any]:
    row = {
        "dataset_id": did,
        "version": version,
        "content_hash": content_hash(cases),
        "row_count": len(cases),
        "author": author,
        "message": message,
        "created_at": at,
        "derived_from": None if derived_from is None else dict(derived_from),
    }
    conn.execute(dataset_versions.insert(), row)
    if cases:
        conn.execute(
            case_rows.insert(),
            [{"dataset_id": did, "version": version, "idx": i, **c} for i, c in enumerate(cases)],
        )
    return row


def _version_record(d: Any, v: Any) -> DatasetVersionRecord:
    return DatasetVersionRecord(
        d.id,
        d.project,
        d.name,
        v.version,
        v.content_hash,
        v.row_count,
        v.author,
        v.message,
        v.created_at,
        v.derived_from,
    )


def _row(r: Any) -> DatasetRow:
    m = r._mapping  # `assert` and `metadata` are not usable as attribute names
    return DatasetRow(
        r.idx, r.vars, m["assert"], r.expected, r.split, m["metadata"] or {}, r.description
    )


def _searchable(row: DatasetRow) -> str:
    parts = [row.description or "", canonical_json(row.vars), canonical_json(row.expected)]
    return "\n".join(parts).lower()
