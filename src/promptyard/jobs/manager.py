"""Jobs: a bounded queue, their lifecycle, cancellation, and their events.

A job is persisted when it is accepted, and every event it emits is committed to the store
before any subscriber sees it (the SSE stream replays from the store, then follows the live
feed). The in-process runner is the default behind this small interface; moving work onto
separate workers later changes where `Work` runs, not how jobs and events are recorded.

Several servers may share one database, and a job must never run twice. Each manager has a
server id and a lease in the store, taken at start() BEFORE anything is marked interrupted
and renewed by a heartbeat task every third of the lease; the jobs it accepts or resumes are
its own. At start and on each heartbeat it marks interrupted only the jobs of servers whose
lease has expired (or whose process, on this same machine, is gone: a crashed server's jobs
are free at once when it restarts), so a second server (even one that then fails to bind its
port) leaves a live server's jobs alone, and a job of a live server cannot be resumed
elsewhere (the store's claim refuses it). Should the heartbeat find its lease gone (this
process stalled for longer than the lease and another server took its jobs over), it stops
those jobs at once and carries on under a new server id; their writes are refused once
another server has claimed them. Admission is synchronous: the check
of the limits and the reservation of a slot (or of a job being resumed) happen with no
`await` between them, so concurrent submissions or resumes cannot overrun the queue or run
one job twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptyard.errors import Conflict, PromptyardError
from promptyard.store.codec import json_dumps

log = logging.getLogger(__name__)

FINISHED = frozenset({"succeeded", "failed", "cancelled", "interrupted"})


class JobsBusy(PromptyardError):
    """No job slot and no queue: HTTP 409."""


class QueueFull(PromptyardError):
    """Every slot busy and the queue full: HTTP 429."""


class JobStorePort(Protocol):
    """What the manager needs of store.jobs (sync; called from threads)."""

    def create_job(
        self, kind: str, manifest: dict[str, Any], *, project: str | None = ...,
        created_by: str | None = ..., owner: str | None = ...,
    ) -> Any: ...  # fmt: skip

    def set_status(
        self, job_id: str, status: str, *, error: str | None = ..., run_id: str | None = ...,
        summary: dict[str, Any] | None = ..., owner: str | None = ...,
    ) -> Any: ...  # fmt: skip

    def append_events(
        self, job_id: str, items: list[tuple[str, dict[str, Any], int]], *,
        owner: str | None = ..., status: dict[str, Any] | None = ...,
    ) -> Any: ...  # fmt: skip

    def mark_interrupted(self, *, me: str | None = ...) -> list[str]: ...

    def claim(self, job_id: str, owner: str) -> Any: ...

    def acquire_lease(self, server_id: str, *, lease_s: float) -> Any: ...

    def renew_lease(self, server_id: str, *, lease_s: float) -> bool: ...

    def release_lease(self, server_id: str) -> None: ...

    def events(self, job_id: str) -> list[Any]: ...


@dataclass(slots=True)
class JobContext:
    """What a job's work sees: its id, its cancel flag, and how to emit events."""

    job_id: str
    manifest: dict[str, Any]
    cancel: asyncio.Event
    _manager: JobManager
    run_id: str | None = None

    async def emit(self, type: str, payload: dict[str, Any], *, step_index: int = 0) -> None:
        await self._manager.emit(self.job_id, type, payload, step_index=step_index)

    async def emit_many(self, items: list[tuple[str, dict[str, Any], int]]) -> None:
        """(type, payload, step_index) events in one write."""
        await self._manager.emit_many(self.job_id, items)

    async def stored_events(self) -> list[Any]:
        """The events already in the log (a resumed job need not say them again)."""
        return await asyncio.to_thread(self._manager.store.events, self.job_id)

    async def set_run(self, run_id: str) -> None:
        self.run_id = run_id
        owner = self._manager.owner_of(self.job_id)
        await asyncio.to_thread(self._manager.store.set_status, self.job_id, "running",
                                run_id=run_id, owner=owner)  # fmt: skip


Work = Callable[[JobContext], Awaitable[dict[str, Any] | None]]  # returns the summary


@dataclass(slots=True)
class _Queued:
    job_id: str
    manifest: dict[str, Any]
    work: Work


@dataclass(slots=True)
class _Subscribers:
    queues: set[asyncio.Queue[dict[str, Any] | None]] = field(default_factory=set)


class JobManager:
    """Runs accepted jobs, at most `max_concurrent` at once, with `queue_length` waiting."""

    def __init__(
        self, store: JobStorePort, *, max_concurrent: int = 1, queue_length: int = 0,
        lease_s: float = 30.0, server_id: str | None = None,
    ):  # fmt: skip
        self.store = store
        self.max_concurrent = max(1, max_concurrent)
        self.queue_length = max(0, queue_length)
        self.server_id = server_id or str(uuid.uuid4())
        self.lease_s = max(1.0, float(lease_s))
        self._waiting: list[_Queued] = []
        self._running: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._reserved = 0  # slots promised to submissions still being written to the store
        self._claiming: set[str] = set()  # jobs whose resume is being written to the store
        self._lost: set[str] = set()  # jobs stopped because this server lost its lease
        self._owner: dict[str, str] = {}  # running job -> the server id it runs under
        self._subscribers: dict[str, _Subscribers] = {}
        self._emit_locks: dict[str, asyncio.Lock] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> list[str]:
        """Take this server's lease, then mark interrupted the jobs of servers that are gone
        (never a live server's), and keep the lease renewed until close()."""
        await asyncio.to_thread(self._acquire)
        interrupted = await asyncio.to_thread(self.store.mark_interrupted, me=self.server_id)
        self._heartbeat = asyncio.create_task(self._keep_lease(), name="job-lease")
        return interrupted

    def _acquire(self) -> None:
        self.store.acquire_lease(self.server_id, lease_s=self.lease_s)

    async def _keep_lease(self) -> None:
        """The heartbeat: renew the lease every third of it, and take over (mark
        interrupted) the jobs of servers whose lease has expired."""
        while not self._closed:
            await asyncio.sleep(self.lease_s / 3)
            try:
                kept = await asyncio.to_thread(self.store.renew_lease, self.server_id,
                                               lease_s=self.lease_s)  # fmt: skip
                if not kept:
                    log.error("server %s lost its job lease (it stalled for longer than %s s"
                              " and another server took its jobs over): stopping its jobs",
                              self.server_id, self.lease_s)  # fmt: skip
                    self._stop_lost_jobs()
                    # A new identity: the jobs of the old one stay free for others to resume.
                    self.server_id = str(uuid.uuid4())
                    await asyncio.to_thread(self._acquire)
                taken = await asyncio.to_thread(self.store.mark_interrupted, me=self.server_id)
                if taken:
                    log.warning("jobs of a server whose lease expired are now interrupted: %s",
                                ", ".join(taken))  # fmt: skip
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away for a while: try again next beat
                log.exception("renewing the job lease of server %s failed", self.server_id)

    def _stop_lost_jobs(self) -> None:
        """Another server has marked this server's jobs interrupted and may resume them:
        stop every one of them here, now."""
        self._waiting.clear()
        for job_id, (task, cancel) in self._running.items():
            self._lost.add(job_id)
            cancel.set()
            task.cancel()

    def _admit(self, job_id: str | None = None) -> None:
        """Check the limits and reserve a slot, synchronously (no await between the two):
        JobsBusy (409) without a queue, QueueFull (429) when the queue is full."""
        if job_id is not None and self.is_active(job_id):
            raise JobsBusy(f"job {job_id} is already queued or running")
        held = len(self._running) + len(self._waiting) + self._reserved
        if held >= self.max_concurrent + self.queue_length:
            if self.queue_length == 0:
                raise JobsBusy("another job is already running")
            raise QueueFull(f"the job queue is full ({self.queue_length} waiting); retry later")
        self._reserved += 1
        if job_id is not None:
            self._claiming.add(job_id)

    async def submit(
        self, kind: str, manifest: dict[str, Any], work: Work, *, project: str | None = None,
        created_by: str | None = None,
    ) -> Any:  # fmt: skip
        """Accept a job (persisted as queued) or refuse it: JobsBusy (409) / QueueFull (429)."""
        self._admit()
        try:
            job = await asyncio.to_thread(
                self.store.create_job, kind, manifest, project=project, created_by=created_by,
                owner=self.server_id,
            )  # fmt: skip
        finally:
            self._reserved -= 1
        self._waiting.append(_Queued(job.id, manifest, work))
        self._pump()
        return job

    async def resume(self, job_id: str, manifest: dict[str, Any], work: Work) -> None:
        """Queue a stopped job again under its own id (its events continue their seq).

        Conflict (409) from the store when the job has not stopped or belongs to another
        live server; JobsBusy when it is already queued, running or being resumed here."""
        self._admit(job_id)
        try:
            await asyncio.to_thread(self.store.claim, job_id, self.server_id)
            self._waiting.append(_Queued(job_id, manifest, work))
        finally:
            self._reserved -= 1
            self._claiming.discard(job_id)
        self._pump()

    def _pump(self) -> None:
        while self._waiting and len(self._running) < self.max_concurrent and not self._closed:
            item = self._waiting.pop(0)
            cancel = asyncio.Event()
            task = asyncio.create_task(self._run(item, cancel), name=f"job-{item.job_id}")
            self._running[item.job_id] = (task, cancel)

    async def _run(self, item: _Queued, cancel: asyncio.Event) -> None:
        ctx = JobContext(item.job_id, item.manifest, cancel, self)
        status, error, summary = "succeeded", None, None
        owner = self._owner[item.job_id] = self.server_id
        try:
            await asyncio.to_thread(self.store.set_status, item.job_id, "running", owner=owner)
            summary = await item.work(ctx)
            if cancel.is_set():
                status = "cancelled"
            elif summary and summary.get("status") in ("failed", "cancelled"):
                status = str(summary["status"])
        except asyncio.CancelledError:
            lost = self._closed or item.job_id in self._lost
            status = "interrupted" if lost else "cancelled"
        except PromptyardError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # a bug: record it on the job, keep serving
            log.exception("job %s failed", item.job_id)
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        try:
            if error is not None:
                await self.emit(item.job_id, "error", {"message": error})
            end = {"status": status, "run_id": ctx.run_id, "summary": summary, "error": error}
            final = {"status": status, "error": error, "summary": summary, "run_id": ctx.run_id}
            await self.emit_many(item.job_id, [("end", end, 0)], status=final)
        except Conflict as exc:  # another server claimed it after this one lost its lease
            log.warning("job %s: %s; leaving it to its new owner", item.job_id, exc)
        finally:
            self._running.pop(item.job_id, None)
            self._lost.discard(item.job_id)
            self._owner.pop(item.job_id, None)
            self._pump()

    async def emit(
        self, job_id: str, type: str, payload: dict[str, Any], *, step_index: int = 0
    ) -> Any:
        """Persist an event, then hand it to the live subscribers (in seq order)."""
        return (await self.emit_many(job_id, [(type, payload, step_index)]))[0]

    async def emit_many(
        self, job_id: str, items: list[tuple[str, dict[str, Any], int]], *,
        status: dict[str, Any] | None = None,
    ) -> list[Any]:  # fmt: skip
        """Persist a burst of events in one commit (with the job's new `status`, if given),
        then hand them to the subscribers."""
        lock = self._emit_locks.setdefault(job_id, asyncio.Lock())
        async with lock:
            records = await asyncio.to_thread(self.store.append_events, job_id, items,
                                              owner=self.owner_of(job_id),
                                              status=status)  # fmt: skip
            subs = self._subscribers.get(job_id)
            if subs is not None and subs.queues:
                for record in records:
                    event = record.to_dict()
                    # Serialized once for every subscriber, as the store wrote it (NaN is null).
                    event["_json"] = json_dumps(event)
                    for queue in list(subs.queues):
                        queue.put_nowait(event)
        if any(type_ == "end" for type_, _, _ in items):
            self._emit_locks.pop(job_id, None)
        return list(records)

    def subscribe(self, job_id: str) -> asyncio.Queue[dict[str, Any] | None]:
        """A live feed of the job's events from now on (unbounded: an event is small and a
        slow client must not slow the job; the queue goes when the client does)."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._subscribers.setdefault(job_id, _Subscribers()).queues.add(queue)
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        subs = self._subscribers.get(job_id)
        if subs is not None:
            subs.queues.discard(queue)
            if not subs.queues:
                self._subscribers.pop(job_id, None)

    def owner_of(self, job_id: str) -> str:
        """The server id a job runs under here (this server's, unless it lost its lease
        while the job ran: then the id it had)."""
        return self._owner.get(job_id, self.server_id)

    def is_active(self, job_id: str) -> bool:
        """Queued, running or being resumed on this server."""
        return (job_id in self._running or job_id in self._claiming
                or any(q.job_id == job_id for q in self._waiting))  # fmt: skip

    async def cancel(self, job_id: str) -> bool:
        """Ask a job to stop; False when it is not queued or running here."""
        for i, item in enumerate(self._waiting):
            if item.job_id == job_id:
                del self._waiting[i]
                end = {"status": "cancelled", "run_id": None, "summary": None, "error": None}
                await self.emit_many(job_id, [("end", end, 0)], status={"status": "cancelled"})
                return True
        running = self._running.get(job_id)
        if running is None:
            return False
        running[1].set()  # the work stops cleanly and keeps what finished
        return True

    async def close(self) -> None:
        """Stop: running jobs are interrupted (resumable), queued ones stay queued; then the
        lease is given up, so that any server may take them over at once."""
        self._closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat
        tasks = [task for task, _ in self._running.values()]
        for task, cancel in self._running.values():
            cancel.set()
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._heartbeat is not None:  # started: the lease is ours to give up
            try:
                await asyncio.to_thread(self.store.release_lease, self.server_id)
            except Exception:  # it expires by itself
                log.exception("releasing the job lease of server %s failed", self.server_id)
