"""What the registry, job and token stores share: transactions, errors, pages, times.

Each of them wraps the engine of an open Store (see store.registry / .jobs / .tokens) and
runs every method as one short transaction, like Store itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc

from promptyard.errors import Conflict, NotFound, StoreError
from promptyard.store.codec import json_dumps
from promptyard.store.engine import WRITE

T = TypeVar("T")


class Page(list[T]):
    """A list of records that also knows how many match in all (`total`).

    For the list methods docs/server.md gives as returning a plain list (prompt versions,
    profiles, projects, tokens): callers iterate it as one, and pages still have a total.
    Those methods return every item unless given a `limit`.
    """

    def __init__(self, items: Iterable[T], total: int) -> None:
        super().__init__(items)
        self.total = total


class StorePart:
    """A part of the store on a shared engine whose database is already migrated."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._where = engine.url.render_as_string(hide_password=True)

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """A write transaction (on SQLite it takes the write lock at BEGIN)."""
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            yield conn

    @contextmanager
    def _errors(self, what: str, *, conflict: str | None = None) -> Iterator[None]:
        """Driver errors as StoreError; a unique-key violation as Conflict when expected."""
        try:
            yield
        except exc.IntegrityError as e:
            if conflict is None:
                raise StoreError(f"{self._where}: {what} failed: {why(e)}") from e
            raise Conflict(conflict) from e
        except exc.SQLAlchemyError as e:
            raise StoreError(f"{self._where}: {what} failed: {why(e)}") from e


def page(
    conn: sa.Connection,
    table: sa.Table,
    where: Sequence[sa.ColumnElement[bool]],
    limit: int | None,
    offset: int,
    *,
    columns: Sequence[sa.ColumnElement[Any]] | None = None,
) -> tuple[list[Any], int]:
    """One page of `table` (or of some of its columns), newest first (created_at, then id),
    and how many rows match."""
    total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
    q = (sa.select(*columns) if columns else sa.select(table)).select_from(table).where(*where)
    q = q.order_by(table.c.created_at.desc(), table.c.id.desc())
    return list(conn.execute(paged(q, limit, offset)).all()), int(total)


def paged(q: sa.Select[Any], limit: int | None, offset: int) -> sa.Select[Any]:
    """`q` limited to one page; `limit=None` means every row from `offset` on."""
    q = q.offset(max(0, offset))
    return q if limit is None else q.limit(max(0, limit))


def filters(
    table: sa.Table,
    *,
    project: str | None,
    tag: str | None = None,
    search: str | None = None,
) -> list[sa.ColumnElement[bool]]:
    """List filters: project (None: every project), a tag, a substring of name or description."""
    where: list[sa.ColumnElement[bool]] = []
    if project is not None:
        where.append(table.c.project == project)
    if tag is not None:
        # Tags are stored lower-case as a JSON list: match the quoted JSON string, encoded the
        # way the column was (non-ASCII escaped), so "a" never matches inside "ab".
        needle = json_dumps(tag.strip().lower())
        where.append(sa.cast(table.c.tags, sa.Text).contains(needle, autoescape=True))
    if search:
        s = search.lower()
        where.append(
            sa.or_(
                sa.func.lower(table.c.name).contains(s, autoescape=True),
                sa.func.lower(table.c.description).contains(s, autoescape=True),
            )
        )
    return where


def named_row(
    conn: sa.Connection,
    table: sa.Table,
    kind: str,
    name: str,
    project: str | None,
    *,
    lock: bool = False,
) -> Any:
    """The row of `table` named `name` in `project` (None: no project), or NotFound.

    `lock` takes a row lock (FOR UPDATE; SQLite's write transactions are serial anyway) so
    that concurrent writers that number versions under this row take turns.
    """
    q = sa.select(table).where(table.c.name == name, project_is(table, project))
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(f"no {kind} named {name!r}{in_project(project)}")
    return row


def project_is(table: sa.Table, project: str | None) -> sa.ColumnElement[bool]:
    return table.c.project.is_(None) if project is None else table.c.project == project


def in_project(project: str | None) -> str:
    """' in project 'x'' for messages, or nothing for the no-project namespace."""
    return "" if project is None else f" in project {project!r}"


def json_ready(record: Any) -> dict[str, Any]:
    """A record dataclass as a dict for JSON: tuples become lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(record).items()}


def why(e: Exception) -> str:
    """The driver's message without SQLAlchemy's SQL dump and background link."""
    orig = getattr(e, "orig", None)
    return str(orig if orig is not None else e).strip().splitlines()[0]


def now() -> str:
    """UTC ISO-8601 with a fixed width (microseconds always shown): text order is time order."""
    return datetime.now(UTC).isoformat(timespec="microseconds")
