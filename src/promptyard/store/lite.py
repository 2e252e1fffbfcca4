"""The run store on SQLite without SQLAlchemy: what `promptyard eval` writes, opened in ~1 ms.

Importing SQLAlchemy and the schema costs 0.3-0.6 s of CPU, about a sixth of a 1,000-case
run's (docs/benchmarks.md), and it competes for the GIL with the first answers. When the
database is a SQLite file already at the newest schema revision, a run's writes (the run row,
its trials and scores, the response cache) go straight through sqlite3, with the statements
the full Store compiles from the schema written out below; tests/integration/test_store_lite.py
checks that both write the same rows. Anything else (a new or older file, PostgreSQL) opens
the full Store, and so do a resume's reads here, on first need.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from promptyard.core.types import TrialResult
from promptyard.errors import StoreError
from promptyard.store import codec
from promptyard.store.common import HEAD_REVISION, check_finish_status, configure_sqlite

if TYPE_CHECKING:
    from promptyard.store.store import Store

_TRIAL_COLUMNS = [
    *["run_id", "idx", "case_index", "case_id", "prompt_id", "prompt_label", "provider_id"],
    *["provider_label", "sample", "description", "vars", "prompt", "output", "error"],
    *["grading", "success", "score", "latency_ms", "cost", "prompt_tokens", "completion_tokens"],
    *["total_tokens", "cached_tokens", "cached", "raw", "created_at", "kpis"],
]
_RUN_COLUMNS = [
    *["id", "project", "description", "status", "config", "prompts", "providers", "summary"],
    *["created_at", "finished_at", "trial_count"],
]
_SCORE_COLUMNS = [
    *["run_id", "trial_index", "position", "assertion_type", "passed", "score", "reason"],
    "metric",
]
_CHUNK = 500  # keys per IN (...) list, as in the full Store


def _insert(table: str, columns: Sequence[str]) -> str:
    names = ", ".join(columns)
    values = ", ".join(f":{c}" for c in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({values})"


class _Sql:
    """The write statements, in sqlite3's named style (codec.TrialStatements)."""

    upsert_trial = (
        _insert("trials", _TRIAL_COLUMNS)
        + " ON CONFLICT (run_id, idx) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _TRIAL_COLUMNS[2:])
    )
    delete_scores = "DELETE FROM scores WHERE scores.run_id = :run_id AND scores.trial_index = :idx"
    insert_score = _insert("scores", _SCORE_COLUMNS)
    reopen_count = (
        "UPDATE runs SET trial_count=NULL WHERE runs.id = :run_id AND runs.trial_count IS NOT NULL"
    )
    cache_put = (
        'INSERT INTO cache ("key", value, created_at) VALUES (:key, :value, :created_at) '
        'ON CONFLICT ("key") DO UPDATE SET value = excluded.value, created_at = excluded.created_at'
    )
    insert_run = _insert("runs", _RUN_COLUMNS)
    finish_run = (
        "UPDATE runs SET status=:status, summary=:summary, finished_at=:fin, "
        "trial_count=(SELECT count(*) FROM trials WHERE trials.run_id = :rid) "
        "WHERE runs.id = :rid"
    )


class LiteStore:
    """A run's writes on a current SQLite file. Thread-safe (one connection, one lock); the
    engine calls it from worker threads, like the full Store."""

    @classmethod
    def open(cls, url: str) -> LiteStore | None:
        """The lean store for `url` (as store.normalize_url gives it), or None when the full
        Store must open it: not a plain SQLite file, not there yet, or not at the newest
        schema revision (the full Store migrates it)."""
        path = url.removeprefix("sqlite:///")
        if path == url or not path or "?" in path or "%" in path or not os.path.isfile(path):
            return None
        try:
            conn = sqlite3.connect(path, check_same_thread=False)
        except sqlite3.Error:
            return None
        try:
            configure_sqlite(conn, wal=True)
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            row = None
        if row is None or row[0] != HEAD_REVISION:
            conn.close()
            return None
        return cls(url, conn)

    def __init__(self, url: str, conn: sqlite3.Connection) -> None:
        self._url = url
        self._conn = conn
        self._lock = threading.Lock()
        self._full: Store | None = None

    @property
    def where(self) -> str:
        return self._url

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            if self._full is not None:
                self._full.close()

    # -- the engine's writes ---------------------------------------------------------------

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
        dumps = codec.json_dumps
        row = {
            "id": run_id,
            "project": project,
            "description": description,
            "status": "running",
            "config": dumps(config),
            "prompts": dumps(prompts),
            "providers": dumps(providers),
            "summary": dumps(None),  # as SQLAlchemy's JSON type writes None
            "created_at": created_at,
            "finished_at": None,
            "trial_count": None,
        }
        try:
            with self._write(f"create run {run_id}") as cur:
                cur.execute(_Sql.insert_run, row)
        except StoreError as e:
            if isinstance(e.__cause__, sqlite3.IntegrityError):
                raise StoreError(f"{self._url}: run {run_id} already exists") from e
            raise

    def add_trials(self, trials: Sequence[TrialResult]) -> None:
        if not trials:
            return
        b = codec.trial_batch(trials)
        with self._write(f"store {len(b.rows)} trial(s) of run {', '.join(b.run_ids)}") as cur:
            codec.write_trials(cur, _Sql, b)

    def finish_run(
        self, run_id: str, *, status: str, summary: dict[str, Any], finished_at: str
    ) -> None:
        check_finish_status(status)
        params = {
            "rid": run_id,
            "status": status,
            "summary": codec.json_dumps(summary),
            "fin": finished_at,
        }
        with self._write(f"finish run {run_id}") as cur:
            n = cur.execute(_Sql.finish_run, params).rowcount
        if n == 0:
            raise StoreError(f"{self._url}: cannot finish run {run_id}: no such run")

    def cache_get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        uniq = list(dict.fromkeys(keys))
        with self._errors("read the cache"), self._lock:
            for i in range(0, len(uniq), _CHUNK):
                part = uniq[i : i + _CHUNK]
                marks = ", ".join("?" * len(part))
                sql = f'SELECT "key", value FROM cache WHERE "key" IN ({marks})'
                for k, v in self._conn.execute(sql, part):
                    out[k] = json.loads(v)
        return out

    def cache_put_many(self, items: Mapping[str, dict[str, Any]]) -> None:
        if not items:
            return
        with self._write("write the cache") as cur:
            cur.executemany(_Sql.cache_put, codec.cache_rows(items))

    # -- a resume's reads: rare, through the full Store -------------------------------------

    def finished_indexes(self, run_id: str) -> set[int]:
        return self._full_store().finished_indexes(run_id)

    def iter_trials(self, run_id: str) -> Iterator[TrialResult]:
        return self._full_store().iter_trials(run_id)

    def reopen_run(self, run_id: str) -> None:
        self._full_store().reopen_run(run_id)

    def _full_store(self) -> Store:
        from promptyard.store.store import Store

        with self._lock:
            if self._full is None:
                self._full = Store.open(self._url)
            return self._full

    # -- internals ------------------------------------------------------------------------

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Cursor]:
        """A cursor in a write transaction, committed when the block ends. BEGIN IMMEDIATE
        takes the write lock at once, so a busy database is waited on (busy_timeout)."""
        with self._errors(what), self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield cur
                    cur.execute("COMMIT")
                except BaseException:
                    self._conn.rollback()
                    raise
            finally:
                cur.close()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as e:
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StoreError(f"{self._url}: {what} failed: {why}") from e
