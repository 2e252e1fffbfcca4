"""Jobs the server runs, and each job's numbered events (the source of SSE replay).

Event numbers (`seq`) start at 1 and grow by one per job with no gaps: a reader that saw
seq N asks for `after=N` and misses nothing (Last-Event-ID). append_event reads the job's
max(seq) and inserts max + 1 in one write transaction, serialised per job three ways: an
in-process lock per job (threads of one server never race, and SQLite never busy-waits on
them), a row lock on the job (SELECT ... FOR UPDATE, for other processes on PostgreSQL;
SQLite's write transactions are serial anyway), and the primary key as the last guard, with
a retry should two writers still collide. The event is committed before append_event
returns, so the bus can publish it knowing a replay will find it ("persist, then emit").
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from promptyard.errors import Conflict, NotFound, StoreError
from promptyard.store.part import StorePart, json_ready, now, page, paged, why
from promptyard.store.schema import events, jobs

KINDS = ("run", "evaluate", "optimize")
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
FINISHED = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
EVENT_TYPES = ("trial", "scoring", "step", "proposal", "error", "end")
_LOCK_STRIPES = 64  # per-job locks without a dict that grows with every job ever run
_RETRIES = 5


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as stored; `summary` is None until it finishes, `created_by` a token id."""

    id: str
    kind: str
    status: str
    project: str | None
    manifest: dict[str, Any]
    summary: dict[str, Any] | None
    error: str | None
    run_id: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    created_by: str | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event of a job. to_dict() is the SSE `data:` envelope plus `created_at`."""

    job_id: str
    seq: int
    step_index: int
    type: str
    payload: Any
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


class JobStore(StorePart):
    """Jobs and events. Thread-safe; each method is one short transaction."""

    def __init__(self, engine: sa.Engine) -> None:
        """Wrap the engine of an open (migrated) Store; use `store.jobs`."""
        super().__init__(engine)
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def create_job(
        self,
        kind: str,
        manifest: Mapping[str, Any],
        *,
        project: str | None = None,
        created_by: str | None = None,
    ) -> JobRecord:
        """A new job with status queued."""
        if kind not in KINDS:
            raise ValueError(f"job kind {kind!r} is not one of {', '.join(KINDS)}")
        if not isinstance(manifest, Mapping):
            raise ValueError("a job manifest must be an object")
        rec = JobRecord(
            str(uuid.uuid4()),
            kind,
            "queued",
            project,
            dict(manifest),
            None,
            None,
            None,
            now(),
            None,
            None,
            created_by,
        )
        row = json_ready(rec)
        del row["summary"]  # SQL NULL, not JSON null: "no summary yet"
        with self._errors("create a job"), self._write() as conn:
            conn.execute(jobs.insert(), row)
        return rec

    def set_status(
        self,
        job_id: str,
        status: str,
        *,
        error: str | None = None,
        run_id: str | None = None,
        summary: Mapping[str, Any] | None = None,
        expected: Collection[str] | None = None,
    ) -> JobRecord:
        """Move a job to `status` and return it; Conflict unless its status is in `expected`.

        `running` sets started_at (first start only); a finished status sets finished_at;
        `queued` or `running` again (a resume) clears finished_at and error. `error`,
        `run_id` and `summary` are written when given and kept otherwise. `expected` makes
        the change a compare-and-set, so a cancel cannot overwrite a job that just finished.
        """
        if status not in STATUSES:
            raise ValueError(f"job status {status!r} is not one of {', '.join(STATUSES)}")
        with self._errors(f"set status of job {job_id}"), self._write() as conn:
            cur = self._job_row(conn, job_id, lock=True)
            if expected is not None and cur.status not in expected:
                raise Conflict(f"job {job_id} is {cur.status}, not {' or '.join(sorted(expected))}")
            at = now()
            values: dict[str, Any] = {"status": status}
            if status in FINISHED:
                values["finished_at"] = at
            else:
                values.update(finished_at=None, error=None)
                if status == "running" and cur.started_at is None:
                    values["started_at"] = at
            if error is not None:
                values["error"] = error
            if run_id is not None:
                values["run_id"] = run_id
            if summary is not None:
                values["summary"] = dict(summary)
            conn.execute(jobs.update().where(jobs.c.id == job_id), values)
            return _job(self._job_row(conn, job_id))

    def get_job(self, job_id: str) -> JobRecord:
        with self._errors(f"read job {job_id}"), self.engine.connect() as conn:
            return _job(self._job_row(conn, job_id))

    def list_jobs(
        self,
        *,
        kind: str | None = None,
        status: str | Collection[str] | None = None,
        project: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[JobRecord], int]:
        """Jobs matching every filter given (status: one or several), newest first, and total.
        Listed jobs carry no manifest or summary (they can be large): get_job has them."""
        where: list[sa.ColumnElement[bool]] = []
        if kind is not None:
            where.append(jobs.c.kind == kind)
        if isinstance(status, str):
            where.append(jobs.c.status == status)
        elif status is not None:
            where.append(jobs.c.status.in_(list(status)))
        if project is not None:
            where.append(jobs.c.project == project)
        light = [c for c in jobs.c if c.name not in ("manifest", "summary")]
        with self._errors("list jobs"), self.engine.connect() as conn:
            rows, total = page(conn, jobs, where, limit, offset, columns=light)
        return [_job(r, full=False) for r in rows], total

    def append_event(
        self, job_id: str, type: str, payload: Any, *, step_index: int = 0
    ) -> EventRecord:
        """Store the job's next event (seq = previous max + 1, from 1), committed on return."""
        return self.append_events(job_id, [(type, payload, step_index)])[0]

    def append_events(
        self, job_id: str, items: Sequence[tuple[str, Any, int]]
    ) -> list[EventRecord]:
        """Store several events of one job, numbered consecutively, in one transaction.

        `items` are (type, payload, step_index). The bus may batch a burst of trial events
        into one commit this way, as the engine's writer batches trials.
        """
        for type_, _, _ in items:
            if type_ not in EVENT_TYPES:
                raise ValueError(f"event type {type_!r} is not one of {', '.join(EVENT_TYPES)}")
        if not items:
            return []
        lock = self._locks[hash(job_id) % _LOCK_STRIPES]
        for attempt in range(_RETRIES):
            try:
                with lock, self._write() as conn:
                    self._job_row(conn, job_id, lock=True)
                    last = conn.execute(
                        sa.select(sa.func.max(events.c.seq)).where(events.c.job_id == job_id)
                    ).scalar()
                    at = now()
                    recs = [
                        EventRecord(job_id, (last or 0) + i, step, type_, payload, at)
                        for i, (type_, payload, step) in enumerate(items, 1)
                    ]
                    conn.execute(events.insert(), [json_ready(r) for r in recs])
                return recs
            except exc.IntegrityError as e:
                # Another process took the same seq (only possible without the row lock).
                if attempt == _RETRIES - 1:
                    raise StoreError(
                        f"{self._where}: append an event to job {job_id} failed: {why(e)}"
                    ) from e
            except exc.SQLAlchemyError as e:
                raise StoreError(
                    f"{self._where}: append an event to job {job_id} failed: {why(e)}"
                ) from e
        raise AssertionError("unreachable")

    def events(self, job_id: str, *, after: int = 0, limit: int | None = None) -> list[EventRecord]:
        """The job's events with seq > `after`, in order (empty for an unknown job)."""
        e = events
        q = sa.select(e).where(e.c.job_id == job_id, e.c.seq > after).order_by(e.c.seq)
        q = paged(q, limit, 0)
        with self._errors(f"read events of job {job_id}"), self.engine.connect() as conn:
            return [
                EventRecord(r.job_id, r.seq, r.step_index, r.type, r.payload, r.created_at)
                for r in conn.execute(q)
            ]

    def mark_interrupted(self) -> list[str]:
        """At start-up: jobs left queued or running by a stopped server become interrupted.

        Returns their ids; the manager may offer to resume them.
        """
        active = ["queued", "running"]
        with self._errors("mark interrupted jobs"), self._write() as conn:
            ids = list(
                conn.execute(
                    sa.select(jobs.c.id).where(jobs.c.status.in_(active)).with_for_update()
                ).scalars()
            )
            if ids:
                conn.execute(
                    jobs.update().where(jobs.c.id.in_(ids), jobs.c.status.in_(active)),
                    {"status": "interrupted", "finished_at": now()},
                )
        return ids

    def _job_row(self, conn: sa.Connection, job_id: str, *, lock: bool = False) -> Any:
        q = sa.select(jobs).where(jobs.c.id == job_id)
        row = conn.execute(q.with_for_update() if lock else q).first()
        if row is None:
            raise NotFound(f"no job {job_id}")
        return row


def _job(r: Any, *, full: bool = True) -> JobRecord:
    return JobRecord(
        r.id,
        r.kind,
        r.status,
        r.project,
        r.manifest if full else {},
        r.summary if full else None,
        r.error,
        r.run_id,
        r.created_at,
        r.started_at,
        r.finished_at,
        r.created_by,
    )
