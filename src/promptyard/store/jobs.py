"""Jobs the server runs, and each job's numbered events (the source of SSE replay).

Event numbers (`seq`) start at 1 and grow by one per job with no gaps: a reader that saw
seq N asks for `after=N` and misses nothing (Last-Event-ID). append_event reads the job's
max(seq) and inserts max + 1 in one write transaction, serialised per job three ways: an
in-process lock per job (threads of one server never race, and SQLite never busy-waits on
them), a row lock on the job (SELECT ... FOR UPDATE, for other processes on PostgreSQL;
SQLite's write transactions are serial anyway), and the primary key as the last guard, with
a retry should two writers still collide. The event is committed before append_event
returns, so the bus can publish it knowing a replay will find it ("persist, then emit").

Several servers may share one database. Each holds a lease (a row of `servers`, renewed by
its JobManager's heartbeat) and owns the jobs it accepted or resumed (`jobs.owner`). A job
is taken from its owner only once the owner's lease has expired: mark_interrupted (at
start-up and on every heartbeat) marks such jobs interrupted and deletes the expired lease in
the same transaction, so the stalled owner, should it wake up, fails to renew and stops them.
claim (a resume) refuses a job whose owner is another live server. With `owner=` given,
set_status and append_events refuse a job that another server has claimed since, so an owner
that lost its lease cannot write over the new owner's job. Leases are compared in UTC by each
server's own clock: servers sharing a database need clocks within a fraction of the lease.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import sys
import threading
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from promptyard.errors import Conflict, NotFound, StoreError
from promptyard.store.common import refused_nul
from promptyard.store.part import StorePart, json_ready, now, page, paged, why
from promptyard.store.schema import events, jobs, servers

KINDS = ("run", "evaluate", "optimize")
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
FINISHED = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
ACTIVE = ("queued", "running")
RESUMABLE = ("interrupted", "cancelled", "failed")
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
    owner: str | None = None  # the server that accepted or resumed it (servers.id)

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


@dataclass(frozen=True, slots=True)
class ServerLease:
    """A server process's lease on its jobs; it is alive while `expires_at` is ahead."""

    id: str
    host: str
    pid: int
    started_at: str
    renewed_at: str
    expires_at: str

    def alive(self, at: str | None = None) -> bool:
        """Unexpired, and not known dead: a lease taken on this node (machine, boot and pid
        namespace) by a process that no longer exists is a crashed server's, whatever its
        expiry, so a server restarted after a crash takes its jobs over at once."""
        if self.expires_at <= (at or now()):
            return False
        return not (self.host == this_node() and _PID_CHECK and not _pid_alive(self.pid))

    def describe(self) -> str:
        return f"server {self.id} (pid {self.pid} on {self.host})"


class JobStore(StorePart):
    """Jobs and events. Thread-safe; each method is one short transaction."""

    def __init__(self, engine: sa.Engine) -> None:
        """Wrap the engine of an open (migrated) Store; use `store.jobs`."""
        super().__init__(engine)
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    @contextmanager
    def _errors(self, what: str, *, conflict: str | None = None) -> Iterator[None]:
        """StorePart._errors, with an id holding NUL (refused by PostgreSQL) answered as an
        unknown job (NotFound: 404; no job id holds one), not as a broken store (500)."""
        try:
            with super()._errors(what, conflict=conflict):
                yield
        except StoreError as e:
            if refused_nul(e.__cause__):
                raise NotFound("no such job (ids hold no NUL characters)") from None
            raise

    def create_job(
        self,
        kind: str,
        manifest: Mapping[str, Any],
        *,
        project: str | None = None,
        created_by: str | None = None,
        owner: str | None = None,
    ) -> JobRecord:
        """A new job with status queued, owned by server `owner` (None: no server)."""
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
            owner,
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
        owner: str | None = None,
    ) -> JobRecord:
        """Move a job to `status` and return it; Conflict unless its status is in `expected`
        (and, with `owner`, unless that server still owns it).

        `running` sets started_at (first start only); a finished status sets finished_at;
        `queued` or `running` again (a resume) clears finished_at and error. `error`,
        `run_id` and `summary` are written when given and kept otherwise. `expected` makes
        the change a compare-and-set, so a cancel cannot overwrite a job that just finished.
        """
        _check_status(status)
        with self._errors(f"set status of job {job_id}"), self._write() as conn:
            cur = self._job_row(conn, job_id, lock=True)
            _check_owner(cur, owner)
            if expected is not None and cur.status not in expected:
                raise Conflict(f"job {job_id} is {cur.status}, not {' or '.join(sorted(expected))}")
            values = _status_values(cur, status, error=error, run_id=run_id, summary=summary)
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
        self,
        job_id: str,
        items: Sequence[tuple[str, Any, int]],
        *,
        owner: str | None = None,
        status: Mapping[str, Any] | None = None,
    ) -> list[EventRecord]:
        """Store several events of one job, numbered consecutively, in one transaction.

        `items` are (type, payload, step_index). The bus may batch a burst of trial events
        into one commit this way, as the engine's writer batches trials. With `owner`,
        Conflict when another server has claimed the job since. `status` ({"status", and
        optionally "error", "run_id", "summary"}, as set_status takes them) changes the
        job's status in the same transaction: a job's final status and its `end` event are
        committed together, so whoever sees the job finished finds its `end` stored too.
        """
        for type_, _, _ in items:
            if type_ not in EVENT_TYPES:
                raise ValueError(f"event type {type_!r} is not one of {', '.join(EVENT_TYPES)}")
        if status is not None:
            _check_status(status["status"])
        if not items:
            return []
        lock = self._locks[hash(job_id) % _LOCK_STRIPES]
        for attempt in range(_RETRIES):
            try:
                with lock, self._write() as conn:
                    cur = self._job_row(conn, job_id, lock=True)
                    _check_owner(cur, owner)
                    if status is not None:
                        values = _status_values(cur, **status)
                        conn.execute(jobs.update().where(jobs.c.id == job_id), values)
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
            return [_event(r) for r in conn.execute(q)]

    def last_event(self, job_id: str) -> EventRecord | None:
        """The job's newest event (None before its first)."""
        e = events
        q = sa.select(e).where(e.c.job_id == job_id).order_by(e.c.seq.desc()).limit(1)
        with self._errors(f"read events of job {job_id}"), self.engine.connect() as conn:
            r = conn.execute(q).first()
        return None if r is None else _event(r)

    def mark_interrupted(self, *, me: str | None = None) -> list[str]:
        """Jobs left queued or running by a server that is gone become interrupted.

        A server is gone when its lease has expired or it has none (a job without an owner,
        from before leases, counts as a gone server's); `me`, the calling server, is never
        gone to itself. A live server's jobs are never touched. Expired leases are deleted in
        the same transaction. Returns the ids marked; the manager may offer to resume them.
        """
        with self._errors("mark interrupted jobs"), self._write() as conn:
            return self._sweep(conn, me, now())

    def claim(self, job_id: str, owner: str) -> JobRecord:
        """Take a stopped job for a resume on server `owner`: status queued, owner set, in
        one transaction, so that of two resumes (in one server or two) one wins.

        Conflict, saying why, when the job has not stopped, or when it belongs to another
        server whose lease is alive (even a stopped job: that server may be finishing it).
        A job still marked running or queued whose owner is gone is taken over.
        """
        at = now()
        with self._errors(f"resume job {job_id}"), self._write() as conn:
            cur = self._job_row(conn, job_id, lock=True)
            if cur.status in ACTIVE and cur.owner != owner:
                self._sweep(conn, owner, at)  # interrupted, if its owner is gone
                cur = self._job_row(conn, job_id, lock=True)
            holder = None if cur.owner in (None, owner) else self._lease(conn, cur.owner)
            if holder is not None and holder.alive(at):
                raise Conflict(
                    f"job {job_id} belongs to {holder.describe()}, which is alive (its lease "
                    f"runs until {holder.expires_at}): resume it on that server, or once it "
                    "has stopped"
                )
            if cur.status not in RESUMABLE:
                raise Conflict(
                    f"job {job_id} is {cur.status}; only an interrupted, cancelled or failed "
                    "job can be resumed"
                )
            conn.execute(
                jobs.update().where(jobs.c.id == job_id),
                {"status": "queued", "owner": owner, "finished_at": None, "error": None},
            )
            return _job(self._job_row(conn, job_id))

    # -- server leases -------------------------------------------------------------------

    def acquire_lease(
        self, server_id: str, *, lease_s: float, host: str | None = None, pid: int | None = None
    ) -> ServerLease:
        """Record server `server_id`'s lease, alive for `lease_s` seconds from now. `host`
        and `pid` default to this process's node (this_node()) and pid."""
        at = now()
        node = this_node() if host is None else host[:255]
        lease = ServerLease(server_id, node, os.getpid() if pid is None else pid, at, at,
                            _later(lease_s))  # fmt: skip
        with self._errors("take the server lease"), self._write() as conn:
            conn.execute(servers.delete().where(servers.c.id == server_id))
            conn.execute(servers.insert(), json_ready(lease))
        return lease

    def renew_lease(self, server_id: str, *, lease_s: float) -> bool:
        """Extend the lease by `lease_s` from now. False when it is gone: another server
        found it expired and took over this server's jobs, which it must stop at once."""
        values = {"renewed_at": now(), "expires_at": _later(lease_s)}
        with self._errors("renew the server lease"), self._write() as conn:
            n = conn.execute(servers.update().where(servers.c.id == server_id), values).rowcount
        return bool(n == 1)

    def release_lease(self, server_id: str) -> None:
        """A server that stops gives its lease up: its jobs are free to be taken at once."""
        with self._errors("release the server lease"), self._write() as conn:
            conn.execute(servers.delete().where(servers.c.id == server_id))

    def lease(self, server_id: str) -> ServerLease | None:
        with self._errors("read a server lease"), self.engine.connect() as conn:
            return self._lease(conn, server_id)

    def _lease(self, conn: sa.Connection, server_id: str) -> ServerLease | None:
        r = conn.execute(sa.select(servers).where(servers.c.id == server_id)).first()
        return None if r is None else _lease(r)

    def _sweep(self, conn: sa.Connection, me: str | None, at: str) -> list[str]:
        """Mark the jobs of gone servers interrupted and delete their leases (one write)."""
        leases = [_lease(r) for r in conn.execute(sa.select(servers)).all()]
        live = [x.id for x in leases if x.id != me and x.alive(at)] + ([me] if me else [])
        gone = [x.id for x in leases if x.id not in live]
        owner_gone = (
            sa.or_(jobs.c.owner.is_(None), jobs.c.owner.not_in(live)) if live else sa.true()
        )
        q = sa.select(jobs.c.id).where(jobs.c.status.in_(ACTIVE), owner_gone)
        ids = list(conn.execute(q.with_for_update()).scalars())
        if ids:
            conn.execute(
                jobs.update().where(jobs.c.id.in_(ids), jobs.c.status.in_(ACTIVE)),
                {"status": "interrupted", "finished_at": at},
            )
        if gone:
            conn.execute(servers.delete().where(servers.c.id.in_(gone)))
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
        r.owner,
    )


def _event(r: Any) -> EventRecord:
    return EventRecord(r.job_id, r.seq, r.step_index, r.type, r.payload, r.created_at)


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"job status {status!r} is not one of {', '.join(STATUSES)}")


def _status_values(
    cur: Any,
    status: str,
    *,
    error: str | None = None,
    run_id: str | None = None,
    summary: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns set_status writes, given the job's current row."""
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
    return values


def _check_owner(row: Any, owner: str | None) -> None:
    """Conflict when `owner` is given and no longer owns the job (another server claimed it)."""
    if owner is not None and row.owner != owner:
        raise Conflict(f"job {row.id} now belongs to server {row.owner}, not to this one")


def _lease(r: Any) -> ServerLease:
    return ServerLease(r.id, r.host, r.pid, r.started_at, r.renewed_at, r.expires_at)


@functools.cache
def this_node() -> str:
    """The machine, its boot and this process's pid namespace, as leases record them: two
    leases with the same node have pids that can be checked against each other."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append("boot:" + Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(f"pidns:{os.stat('/proc/self/ns/pid').st_ino}")
    return " ".join(parts)[:255]


def _pid_alive(pid: int) -> bool:
    """False only when no process has this pid (a zombie or another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


# Whether a pid from this node can be checked: Linux with /proc names its pid namespace (two
# containers may share a host name, not their pids); macOS has one pid namespace.
_PID_CHECK = "pidns:" in this_node() or sys.platform == "darwin"


def _later(seconds: float) -> str:
    """now() + `seconds`, in the same fixed-width form (text order is time order)."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="microseconds")
