"""The Store: runs, trials, scores and the response cache, on SQLite or PostgreSQL.

Design: SQLAlchemy 2 Core with a SYNC engine, not ORM objects and not an async driver. The
engine's CPU budget (~1.5 ms per test case for everything) leaves no room for an ORM object
per row or for aiosqlite's thread hop per call. The async engine calls the store from one
writer thread via asyncio.to_thread and groups commits: it drains whatever finished trials
are queued and commits them in one add_trials call, so under load a commit carries many
trials and at low load each trial commits alone. The server calls the same store from
FastAPI's threadpool; the Engine's pool makes that safe.

SQLite (the default) runs in WAL mode with synchronous=NORMAL, a busy timeout and foreign
keys on; write transactions take the lock at BEGIN (BEGIN IMMEDIATE). PostgreSQL goes
through the same code with the psycopg (v3) driver. The schema is created and upgraded by
Alembic migrations at open (see migrate.py), never by metadata.create_all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import bindparam, exc

from promptyard.core.types import TrialResult
from promptyard.errors import AmbiguousRunId, RunNotFound, StoreError
from promptyard.store import codec
from promptyard.store.common import check_finish_status
from promptyard.store.engine import WRITE, create_engine
from promptyard.store.migrate import upgrade
from promptyard.store.schema import cache, runs, trials
from promptyard.store.urls import display_url, normalize_url
from promptyard.store.writes import RawWriter

if TYPE_CHECKING:
    from promptyard.store.iterations import IterationStore
    from promptyard.store.jobs import JobStore
    from promptyard.store.matrix import MatrixStore
    from promptyard.store.prompt_runs import PromptRunStore
    from promptyard.store.registry import RegistryStore
    from promptyard.store.tokens import TokenStore

_CHUNK = 500  # keys per IN (...) list: far below every backend's parameter limit


@dataclass(slots=True)
class RunRecord:
    """A run as stored. `trial_count` counts trials stored so far."""

    id: str
    description: str
    status: str
    created_at: str
    finished_at: str | None
    summary: dict[str, Any] | None
    config: dict[str, Any]
    prompts: list[dict[str, Any]]
    providers: list[dict[str, Any]]
    project: str | None
    trial_count: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Store:
    """Persistent results. Thread-safe; every method is one short transaction."""

    def __init__(self, engine: sa.Engine) -> None:
        """Wrap an engine whose database is already migrated; use Store.open instead."""
        self.engine = engine
        self._where = engine.url.render_as_string(hide_password=True)
        # PostgreSQL text refuses NUL characters; SQLite keeps them.
        self._clean: Callable[[str | None], str | None] | None = (
            codec.strip_nul if engine.dialect.name == "postgresql" else None
        )
        self._build_statements(engine.dialect.name)
        self._w = RawWriter(engine)

    @property
    def where(self) -> str:
        """The database, as error messages name it (password hidden)."""
        return self._where

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (creating if needed) the database at `url` and migrate it to the newest schema.

        `url` is a SQLAlchemy URL (sqlite:///path, postgresql://...; plain postgresql:// uses
        psycopg) or a bare file path for SQLite. A SQLite file's parent directory is created.
        """
        try:
            engine = create_engine(url)
        except ImportError as e:
            if normalize_url(url).startswith("postgresql"):
                raise StoreError(
                    f"cannot open database {display_url(url)!r}: PostgreSQL needs the postgres"
                    " extra: pip install 'promptyard[postgres]'"
                ) from None
            raise StoreError(f"cannot open database {display_url(url)!r}: {e}") from e
        except (exc.ArgumentError, OSError) as e:
            raise StoreError(f"cannot open database {display_url(url)!r}: {e}") from e
        try:
            upgrade(engine)
        except exc.SQLAlchemyError as e:
            engine.dispose()
            where = engine.url.render_as_string(hide_password=True)
            raise StoreError(f"{where}: cannot open or migrate the database: {_why(e)}") from e
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the server's parts (docs/server.md), built on first use on this engine ------------

    @cached_property
    def registry(self) -> RegistryStore:
        """Prompts, datasets, profiles and projects."""
        from promptyard.store.registry import RegistryStore

        return RegistryStore(self.engine)

    @cached_property
    def jobs(self) -> JobStore:
        """Server jobs and their events."""
        from promptyard.store.jobs import JobStore

        return JobStore(self.engine)

    @cached_property
    def matrix(self) -> MatrixStore:
        """A run's results as pages of case rows (the UI's matrix)."""
        from promptyard.store.matrix import MatrixStore

        return MatrixStore(self.engine)

    @cached_property
    def prompt_runs(self) -> PromptRunStore:
        """The runs of a registry prompt's versions."""
        from promptyard.store.prompt_runs import PromptRunStore

        return PromptRunStore(self.engine)

    @cached_property
    def iterations(self) -> IterationStore:
        """Optimization iterations."""
        from promptyard.store.iterations import IterationStore

        return IterationStore(self.engine)

    @cached_property
    def tokens(self) -> TokenStore:
        """API tokens (hashes only)."""
        from promptyard.store.tokens import TokenStore

        return TokenStore(self.engine)

    # -- runs -----------------------------------------------------------------------------

    def create_run(
        self,
        *,
        run_id: str,
        description: str,
        config: dict[str, Any],
        created_at: str,
        prompts: list[dict[str, Any]],
        providers: list[dict[str, Any]],
        project: str | None = None,
    ) -> None:
        """Record a new run with status "running"."""
        row = {
            "id": run_id,
            "project": project,
            "description": description,
            "status": "running",
            "config": config,
            "prompts": prompts,
            "providers": providers,
            "summary": None,
            "created_at": created_at,
            "finished_at": None,
            "trial_count": None,
        }
        try:
            with self._errors(f"create run {run_id}"), self._write() as conn:
                conn.execute(self._insert_run, row)
        except StoreError as e:
            if isinstance(e.__cause__, exc.IntegrityError):
                raise StoreError(f"{self._where}: run {run_id} already exists") from e
            raise

    def finish_run(
        self, run_id: str, *, status: str, summary: dict[str, Any], finished_at: str
    ) -> None:
        """Close a run: final status, summary, finish time; fixes its trial count."""
        check_finish_status(status)
        with self._errors(f"finish run {run_id}"), self._write() as conn:
            n = conn.execute(
                self._finish_run,
                {"rid": run_id, "status": status, "summary": summary, "fin": finished_at},
            ).rowcount
        if n == 0:
            raise StoreError(f"{self._where}: cannot finish run {run_id}: no such run")

    def reopen_run(self, run_id: str) -> None:
        """Mark a stopped run running again (a resume adds its missing trials)."""
        with self._errors(f"reopen run {run_id}"), self._write() as conn:
            n = conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(status="running", finished_at=None, trial_count=None)
            ).rowcount
        if n == 0:
            raise StoreError(f"{self._where}: cannot resume run {run_id}: no such run")

    def list_runs(self, *, limit: int = 50, offset: int = 0) -> list[RunRecord]:
        """Runs, newest first."""
        q = self._select_runs.order_by(runs.c.created_at.desc(), runs.c.id.desc())
        with self._errors("list runs"), self.engine.connect() as conn:
            rows = conn.execute(q.limit(max(0, limit)).offset(max(0, offset))).all()
        return [_run_record(r) for r in rows]

    def count_runs(self) -> int:
        """How many runs there are (the total of list_runs' pages)."""
        with self._errors("count runs"), self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one())

    def get_run(self, run_id_or_prefix: str) -> RunRecord:
        """The run with this id, or the only run whose id starts with it (like git)."""
        key = run_id_or_prefix.strip()
        if not key:
            raise AmbiguousRunId("run id is empty: give a run id or a unique prefix of one")
        q = self._select_runs.where(runs.c.id.startswith(key, autoescape=True))
        with self._errors(f"get run {key}"), self.engine.connect() as conn:
            rows = conn.execute(q.order_by(runs.c.id).limit(5)).all()
        exact = [r for r in rows if r.id == key]
        if exact:
            return _run_record(exact[0])
        if not rows:
            raise RunNotFound(f"no run matches {key!r} in {self._where}")
        if len(rows) > 1:
            shown = ", ".join(r.id for r in rows[:4]) + (", ..." if len(rows) > 4 else "")
            raise AmbiguousRunId(
                f"run id prefix {key!r} is ambiguous: it matches {shown}; give more characters"
            )
        return _run_record(rows[0])

    # -- trials ---------------------------------------------------------------------------

    def add_trials(self, trials_: Sequence[TrialResult]) -> None:
        """Store trials and their scores in one transaction.

        Idempotent per (run_id, index): writing an index again replaces that trial and its
        scores (a re-run or resume may repeat work).
        """
        if not trials_:
            return
        b = codec.trial_batch(trials_, self._clean)
        what = f"store {len(b.rows)} trial(s) of run {', '.join(b.run_ids)}"
        with self._errors(what), self._w.transaction() as cur:
            codec.write_trials(cur, self._w, b)

    def iter_trials(self, run_id: str, *, batch_size: int = 1000) -> Iterator[TrialResult]:
        """A run's trials ordered by index, read `batch_size` rows at a time.

        Each batch is its own short read (keyset pagination on the primary key), so no
        connection or lock is held while the caller works through the rows.
        """
        batch_size = max(1, batch_size)
        last = -(2**31)  # below any index, inside a 32-bit INTEGER
        while True:
            with self._errors(f"read trials of run {run_id}"), self.engine.connect() as conn:
                rows = conn.execute(
                    self._page_trials, {"rid": run_id, "after": last, "n": batch_size}
                ).all()
            for r in rows:
                yield codec.trial_from_row(r)
            if len(rows) < batch_size:
                return
            last = rows[-1].idx

    def count_trials(self, run_id: str) -> int:
        with self._errors(f"count trials of run {run_id}"), self.engine.connect() as conn:
            return int(conn.execute(self._count_trials, {"rid": run_id}).scalar_one())

    def finished_indexes(self, run_id: str) -> set[int]:
        """Indexes of the trials already stored for a run (a resume skips them)."""
        with self._errors(f"read trial indexes of run {run_id}"), self.engine.connect() as conn:
            return set(conn.execute(self._trial_indexes, {"rid": run_id}).scalars())

    # -- cache ----------------------------------------------------------------------------

    def cache_get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Cached values for those keys that have one."""
        out: dict[str, dict[str, Any]] = {}
        if not keys:
            return out
        uniq = list(dict.fromkeys(keys))
        with self._errors("read the cache"), self.engine.connect() as conn:
            for i in range(0, len(uniq), _CHUNK):
                for k, v in conn.execute(self._cache_get, {"keys": uniq[i : i + _CHUNK]}):
                    out[k] = v
        return out

    def cache_put_many(self, items: Mapping[str, dict[str, Any]]) -> None:
        """Insert or replace cache entries."""
        if not items:
            return
        with self._errors("write the cache"), self._w.transaction() as cur:
            cur.executemany(self._w.cache_put, codec.cache_rows(items))

    # -- internals ------------------------------------------------------------------------

    def _build_statements(self, dialect: str) -> None:
        """Build every statement once; SQLAlchemy then reuses their compiled form."""
        if dialect not in ("postgresql", "sqlite"):
            raise StoreError(
                f"{self._where}: unsupported database {dialect!r} (use SQLite or PostgreSQL)"
            )
        self._insert_run = runs.insert()
        self._finish_run = (
            runs.update()
            .where(runs.c.id == bindparam("rid"))
            .values(
                status=bindparam("status"),
                summary=bindparam("summary", type_=runs.c.summary.type),
                finished_at=bindparam("fin"),
                trial_count=sa.select(sa.func.count())
                .where(trials.c.run_id == bindparam("rid"))
                .scalar_subquery(),
            )
        )
        count_sub = sa.select(sa.func.count()).where(trials.c.run_id == runs.c.id).scalar_subquery()
        self._select_runs = sa.select(
            *[c for c in runs.c if c.name != "trial_count"],
            sa.func.coalesce(runs.c.trial_count, count_sub).label("trial_count"),
        )
        self._page_trials = (
            sa.select(trials)
            .where(trials.c.run_id == bindparam("rid"), trials.c.idx > bindparam("after"))
            .order_by(trials.c.idx)
            .limit(bindparam("n"))
        )
        self._count_trials = sa.select(sa.func.count()).where(trials.c.run_id == bindparam("rid"))
        self._trial_indexes = sa.select(trials.c.idx).where(trials.c.run_id == bindparam("rid"))
        self._cache_get = sa.select(cache.c.key, cache.c.value).where(
            cache.c.key.in_(bindparam("keys", expanding=True))
        )

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            yield conn

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (exc.SQLAlchemyError, self._w.error) as e:
            raise StoreError(f"{self._where}: {what} failed: {_why(e)}") from e


def _run_record(r: Any) -> RunRecord:
    return RunRecord(
        id=r.id,
        description=r.description,
        status=r.status,
        created_at=r.created_at,
        finished_at=r.finished_at,
        summary=r.summary,
        config=r.config,
        prompts=r.prompts,
        providers=r.providers,
        project=r.project,
        trial_count=int(r.trial_count or 0),
    )


def _why(e: Exception) -> str:
    """The driver's message without SQLAlchemy's SQL dump and background link."""
    orig = getattr(e, "orig", None)
    return str(orig if orig is not None else e).strip().splitlines()[0]
