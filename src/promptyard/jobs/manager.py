"""Jobs: a bounded queue, their lifecycle, cancellation, and their events.

A job is persisted when it is accepted, and every event it emits is committed to the store
before any subscriber sees it (the SSE stream replays from the store, then follows the live
feed). The in-process runner is the default behind this small interface; moving work onto
separate workers later changes where `Work` runs, not how jobs and events are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptyard.errors import PromptyardError
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
        created_by: str | None = ...,
    ) -> Any: ...  # fmt: skip

    def set_status(
        self, job_id: str, status: str, *, error: str | None = ..., run_id: str | None = ...,
        summary: dict[str, Any] | None = ...,
    ) -> Any: ...  # fmt: skip

    def append_events(self, job_id: str, items: list[tuple[str, dict[str, Any], int]]) -> Any: ...

    def mark_interrupted(self) -> list[str]: ...

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
        await asyncio.to_thread(self._manager.store.set_status, self.job_id, "running",
                                run_id=run_id)  # fmt: skip


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

    def __init__(self, store: JobStorePort, *, max_concurrent: int = 1, queue_length: int = 0):
        self.store = store
        self.max_concurrent = max(1, max_concurrent)
        self.queue_length = max(0, queue_length)
        self._waiting: list[_Queued] = []
        self._running: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._reserved = 0  # slots promised to submissions still being written to the store
        self._subscribers: dict[str, _Subscribers] = {}
        self._emit_locks: dict[str, asyncio.Lock] = {}
        self._closed = False

    async def start(self) -> list[str]:
        """Mark jobs left running or queued by a previous process as interrupted."""
        return await asyncio.to_thread(self.store.mark_interrupted)

    async def submit(
        self, kind: str, manifest: dict[str, Any], work: Work, *, project: str | None = None,
        created_by: str | None = None,
    ) -> Any:  # fmt: skip
        """Accept a job (persisted as queued) or refuse it: JobsBusy (409) / QueueFull (429)."""
        busy = len(self._running) + self._reserved >= self.max_concurrent
        if busy and self.queue_length == 0:
            raise JobsBusy("another job is already running")
        if busy and len(self._waiting) >= self.queue_length:
            raise QueueFull(f"the job queue is full ({self.queue_length} waiting); retry later")
        self._reserved += 1
        try:
            job = await asyncio.to_thread(
                self.store.create_job, kind, manifest, project=project, created_by=created_by
            )
        finally:
            self._reserved -= 1
        self._waiting.append(_Queued(job.id, manifest, work))
        self._pump()
        return job

    async def resume(self, job_id: str, manifest: dict[str, Any], work: Work) -> None:
        """Queue a stopped job again under its own id (its events continue their seq)."""
        busy = len(self._running) + self._reserved >= self.max_concurrent
        if busy and self.queue_length == 0:
            raise JobsBusy("another job is already running")
        if busy and len(self._waiting) >= self.queue_length:
            raise QueueFull(f"the job queue is full ({self.queue_length} waiting); retry later")
        if self.is_active(job_id):
            raise JobsBusy(f"job {job_id} is already queued or running")
        self._reserved += 1
        try:
            await asyncio.to_thread(self.store.set_status, job_id, "queued")
        finally:
            self._reserved -= 1
        self._waiting.append(_Queued(job_id, manifest, work))
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
        try:
            await asyncio.to_thread(self.store.set_status, item.job_id, "running")
            summary = await item.work(ctx)
            if cancel.is_set():
                status = "cancelled"
            elif summary and summary.get("status") in ("failed", "cancelled"):
                status = str(summary["status"])
        except asyncio.CancelledError:
            status = "interrupted" if self._closed else "cancelled"
        except PromptyardError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # a bug: record it on the job, keep serving
            log.exception("job %s failed", item.job_id)
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        try:
            if error is not None:
                await self.emit(item.job_id, "error", {"message": error})
            await asyncio.to_thread(
                self.store.set_status, item.job_id, status, error=error, summary=summary,
                run_id=ctx.run_id,
            )  # fmt: skip
            end = {"status": status, "run_id": ctx.run_id, "summary": summary, "error": error}
            await self.emit(item.job_id, "end", end)
        finally:
            self._running.pop(item.job_id, None)
            self._pump()

    async def emit(
        self, job_id: str, type: str, payload: dict[str, Any], *, step_index: int = 0
    ) -> Any:
        """Persist an event, then hand it to the live subscribers (in seq order)."""
        return (await self.emit_many(job_id, [(type, payload, step_index)]))[0]

    async def emit_many(
        self, job_id: str, items: list[tuple[str, dict[str, Any], int]]
    ) -> list[Any]:
        """Persist a burst of events in one commit, then hand them to the subscribers."""
        lock = self._emit_locks.setdefault(job_id, asyncio.Lock())
        async with lock:
            records = await asyncio.to_thread(self.store.append_events, job_id, items)
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

    def is_active(self, job_id: str) -> bool:
        return job_id in self._running or any(q.job_id == job_id for q in self._waiting)

    async def cancel(self, job_id: str) -> bool:
        """Ask a job to stop; False when it is not queued or running here."""
        for i, item in enumerate(self._waiting):
            if item.job_id == job_id:
                del self._waiting[i]
                await asyncio.to_thread(self.store.set_status, job_id, "cancelled")
                await self.emit(job_id, "end", {"status": "cancelled", "run_id": None,
                                                "summary": None, "error": None})  # fmt: skip
                return True
        running = self._running.get(job_id)
        if running is None:
            return False
        running[1].set()  # the work stops cleanly and keeps what finished
        return True

    async def close(self) -> None:
        """Stop: running jobs are interrupted (resumable), queued ones stay for the next start."""
        self._closed = True
        tasks = [task for task, _ in self._running.values()]
        for task, cancel in self._running.values():
            cancel.set()
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
