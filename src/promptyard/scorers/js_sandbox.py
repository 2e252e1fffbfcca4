"""A V8 sandbox for user JavaScript, in a child process, with time and memory limits.

Why a child process: V8 aborts the whole process on some allocations that its heap limit cannot
stop (e.g. `new Array(1e9).fill(0)` dies with "Fatal JavaScript out of memory: invalid table
size"), and a few C++ builtins ignore termination requests. In a child, such a crash or hang
costs one respawn instead of the server. Inside the child (js_worker.py), mini-racer enforces
the limits itself (terminate on timeout, hard heap limit) so the usual runaway loop costs no
respawn.

The host never blocks its event loop: `call` writes a request tagged with an id to the child's
pipe and awaits a future that the loop's reader callback resolves when the reply arrives. Many
trials' calls are in flight at once; the requests made in one loop iteration go out in one
write, and the child answers everything it has read in one write. Each distinct function is
compiled once per child (sent just ahead of its first call) and called by id with a JSON string
of arguments.

Crash recovery: when the child dies (or wedges past the hard timeout and is killed) the request
it was running gets the error and every other request in flight is re-sent to a new child. The
host knows which request was running when that request is SOLO (the child flushed the replies
before it and flushes its reply right after it); requests sent to an idle child are SOLO, and
after a crash in a burst all re-sent requests are, so the culprit is found on its second crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass
from typing import Any

from promptyard.scorers import js_worker
from promptyard.scorers.js_worker import (
    FLAG_SOLO,
    FN_ID,
    HEADER,
    OP_CALL,
    OP_COMPILE,
    ST_MEMORY,
    ST_OK,
    ST_READY,
    ST_TIMEOUT,
    ST_UNKNOWN,
)

__all__ = ["JsCallResult", "JsError", "JsSandbox"]

_STARTUP_TIMEOUT_S = 60.0
_GATHER_S = 0.002  # how long checks gather while the child is busy with earlier ones
_MAX_ATTEMPTS = 3  # a request re-sent after this many crashes fails with the crash
_STDERR_TAIL = 1 << 16


class JsError(Exception):
    """User JavaScript failed. `kind`: "error" (threw or bad syntax), "timeout", "memory",
    "crash" (the sandbox process died for another reason)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


@dataclass(slots=True)
class JsCallResult:
    """What a JS function returned: `type` is JS typeof ("undefined", "boolean", "number",
    "string", "object", "function", "symbol", "bigint"); `value` its JSON value (for a
    non-finite number, its string "NaN", "Infinity" or "-Infinity")."""

    type: str
    value: Any = None


@dataclass(slots=True)
class _Function:
    kind: str  # "body" (params output, context) or "module" (CommonJS source)
    source: str
    name: str | None
    label: str


@dataclass(slots=True)
class _Request:
    id: int
    op: bytes
    fn_id: int
    payload: bytes
    future: asyncio.Future[tuple[bytes, bytes]] | None  # None: nobody waits (a compile)
    solo: bool = False
    attempts: int = 0


class _Worker:
    """One child process, its pipes and its requests in flight; used on one event loop."""

    def __init__(self, timeout_s: float, max_memory: int) -> None:
        # A file, not a pipe, so a chatty child can never block on it; closed by kill/close.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-I",
                os.path.abspath(js_worker.__file__),
                str(timeout_s),
                str(max_memory),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            bufsize=0,
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.out = self.proc.stdin.fileno()
        self.inp = self.proc.stdout.fileno()
        os.set_blocking(self.out, False)
        os.set_blocking(self.inp, False)
        self.started = time.monotonic()
        self.ready = False
        self.last_progress = self.started
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pending: dict[int, _Request] = {}  # in send order
        self.calls_pending = 0
        self.known: set[int] = set()  # function ids whose compile was sent to this child
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.flush_scheduled = False
        self.writer_on = False
        self.watchdog: asyncio.TimerHandle | None = None
        self.dead = False

    def unbind(self) -> None:
        """Forget the loop (reader, writer, timer); safe when that loop is closed."""
        loop, self.loop = self.loop, None
        if loop is None:
            return
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        with contextlib.suppress(Exception):  # the loop may be closed already
            loop.remove_reader(self.inp)
        if self.writer_on:
            with contextlib.suppress(Exception):
                loop.remove_writer(self.out)
            self.writer_on = False
        self.flush_scheduled = False

    def kill(self, *, keep_stderr: bool = False) -> None:
        self.dead = True
        self.unbind()
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        _close_pipes(self.proc)
        if not keep_stderr:
            self.stderr.close()

    def stderr_text(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            size = self.stderr.seek(0, os.SEEK_END)
            self.stderr.seek(max(0, size - _STDERR_TAIL))
            return self.stderr.read().decode("utf-8", "replace")
        return ""

    def crash_error(self) -> JsError:
        """Why the (dead) child died; closes its stderr file."""
        text = self.stderr_text()
        self.stderr.close()
        if "out of memory" in text.lower() or "JSOOMException" in text:
            return JsError("memory", _v8_fatal_line(text))
        lines = text.strip().splitlines()
        detail = f": {lines[-1].strip()}" if lines else ""
        code = self.proc.returncode
        if not self.ready:
            return JsError("crash", f"JavaScript sandbox failed to start (exit {code}){detail}")
        return JsError("crash", f"JavaScript sandbox crashed (exit {code}){detail}")

    def close(self) -> None:
        """Ask the child to exit (EOF on its stdin); kill it if it does not."""
        self.dead = True
        self.unbind()
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        _close_pipes(self.proc)
        with contextlib.suppress(OSError):
            self.stderr.close()


def _v8_fatal_line(text: str) -> str:
    for line in text.splitlines():
        if "Fatal" in line and "memory" in line:
            return line.strip("# ").strip()
    return "V8 ran out of memory"


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _shutdown(holder: list[_Worker | None]) -> None:
    worker, holder[0] = holder[0], None
    if worker is not None:
        worker.close()


def _settle(req: _Request, result: tuple[bytes, bytes] | JsError) -> None:
    fut = req.future
    if fut is None or fut.done() or fut.get_loop().is_closed():
        return
    if isinstance(result, JsError):
        fut.set_exception(result)
    else:
        fut.set_result(result)


class JsSandbox:
    """Compile user JavaScript once, call it many times, under a time and a memory limit.

    `call` is a coroutine; any number may be in flight on one event loop (the child runs them
    in order, one isolate). The child starts on `start()` or first use, and again after a crash
    or a hard timeout; compiled functions are re-sent to it. Used from one event loop at a
    time: it moves to another loop when it is idle (e.g. one sandbox across tests).
    """

    def __init__(self, *, timeout_ms: int, max_memory_bytes: int) -> None:
        if timeout_ms <= 0 or max_memory_bytes <= 0:
            raise ValueError("timeout_ms and max_memory_bytes must be positive")
        self.timeout_ms = timeout_ms
        self.max_memory_bytes = max_memory_bytes
        self._timeout_s = timeout_ms / 1000
        # The worker enforces the limit itself; past this extra grace without any reply the
        # host kills it (a C++ builtin that ignores termination, a wedged process).
        self._hard_timeout_s = self._timeout_s + max(1.0, self._timeout_s)
        self._functions: list[_Function] = []
        self._ids: dict[tuple[str, str, str | None], int] = {}
        self._next_id = itertools.count(1)  # 0 is the child's ready message
        self._holder: list[_Worker | None] = [None]
        self._finalizer = weakref.finalize(self, _shutdown, self._holder)

    @property
    def memory_mb(self) -> str:
        return f"{self.max_memory_bytes / (1024 * 1024):g}"

    @property
    def pid(self) -> int | None:
        """The child's process id, if one is running."""
        worker = self._holder[0]
        return worker.proc.pid if worker is not None and not worker.dead else None

    def start(self) -> None:
        """Start the child now, without waiting for it (it takes ~0.1 s to come up), so that
        its start overlaps other work. Needs no event loop."""
        self._live_worker()

    # ---- functions

    def compile_body(self, body: str, *, label: str) -> int:
        """A function of (output, context) with this body; returns its id. Compile errors
        (JsError "error") are raised by each `call` of it."""
        return self._function("body", body, None, label)

    def compile_module(self, source: str, name: str | None, *, label: str) -> int:
        """The function a CommonJS module exports (`name`, else the module itself, else its
        `default`); a module that exports no function fails each `call` with JsError."""
        return self._function("module", source, name, label)

    def _function(self, kind: str, source: str, name: str | None, label: str) -> int:
        key = (kind, source, name)
        fn_id = self._ids.get(key)
        if fn_id is None:
            fn_id = len(self._functions)
            self._functions.append(_Function(kind, source, name, label))
            self._ids[key] = fn_id
        return fn_id

    async def call(self, fn_id: int, args_json: str) -> JsCallResult:
        """Call compiled function `fn_id` with a JSON array of arguments. Raises JsError."""
        if not 0 <= fn_id < len(self._functions):
            raise ValueError(f"unknown JavaScript function id {fn_id}")
        payload = FN_ID.pack(fn_id) + args_json.encode("utf-8", "surrogatepass")
        status, body = await self._submit(fn_id, payload)
        if status == ST_UNKNOWN:  # cannot happen unless the child lost state; recover once
            worker = self._holder[0]
            if worker is not None:
                worker.known.discard(fn_id)
            status, body = await self._submit(fn_id, payload)
        if status != ST_OK:
            raise self._error(status, body)
        data = json.loads(body)
        if "e" in data:
            raise JsError("error", data["e"])
        return JsCallResult(data["t"], data.get("v"))

    def close(self) -> None:
        worker = self._holder[0]
        if worker is not None:
            for req in worker.pending.values():
                _settle(req, JsError("crash", "the JavaScript sandbox was closed"))
            worker.pending.clear()
        self._finalizer()

    # ---- requests

    def _submit(self, fn_id: int, payload: bytes) -> asyncio.Future[tuple[bytes, bytes]]:
        loop = asyncio.get_running_loop()
        worker = self._bound_worker(loop)
        fut: asyncio.Future[tuple[bytes, bytes]] = loop.create_future()
        req = _Request(next(self._next_id), OP_CALL, fn_id, payload, fut)
        self._enqueue(worker, req)
        return fut

    def _enqueue(self, worker: _Worker, req: _Request) -> None:
        if req.op == OP_CALL and req.fn_id not in worker.known:
            fn = self._functions[req.fn_id]
            spec = {"id": req.fn_id, "kind": fn.kind, "src": fn.source, "name": fn.name}
            compile_req = _Request(
                next(self._next_id), OP_COMPILE, req.fn_id, json.dumps(spec).encode(), None
            )
            worker.known.add(req.fn_id)
            self._enqueue(worker, compile_req)
        if not worker.pending:
            worker.last_progress = time.monotonic()  # the watchdog's clock starts now
        if req.op == OP_CALL:
            # First call of a burst: solo, so a crash on it is pinned on it at once.
            req.solo = req.solo or worker.calls_pending == 0
            worker.calls_pending += 1
        worker.pending[req.id] = req
        flags = FLAG_SOLO if req.solo else 0
        worker.outbuf += HEADER.pack(req.op, flags, req.id, len(req.payload))
        worker.outbuf += req.payload
        if not worker.writer_on and not worker.flush_scheduled and worker.loop is not None:
            # One write carries every request queued until it: a write to the pipe costs
            # ~60 µs here and wakes the child, which then pays per batch, not per call. An
            # idle child gets the request at the end of this loop iteration; a busy one a
            # little later, so that a burst of answers' checks goes out as one batch.
            worker.flush_scheduled = True
            if worker.calls_pending > 1:
                worker.loop.call_later(_GATHER_S, self._flush, worker)
            else:
                worker.loop.call_soon(self._flush, worker)
        if worker.watchdog is None and worker.loop is not None:
            self._arm(worker)

    def _flush(self, worker: _Worker) -> None:
        worker.flush_scheduled = False
        if worker.dead or not worker.outbuf:
            return
        try:
            sent = os.write(worker.out, worker.outbuf)
        except BlockingIOError:
            sent = 0
        except OSError:  # the child is gone; its reader sees EOF and recovers
            del worker.outbuf[:]
            return
        del worker.outbuf[:sent]
        want_writer = bool(worker.outbuf)
        if want_writer != worker.writer_on and worker.loop is not None:
            if want_writer:
                worker.loop.add_writer(worker.out, self._flush, worker)
            else:
                worker.loop.remove_writer(worker.out)
            worker.writer_on = want_writer

    def _on_readable(self, worker: _Worker) -> None:
        try:
            chunk = os.read(worker.inp, 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._on_crash(worker, None)
            return
        buf = worker.inbuf
        buf += chunk
        worker.last_progress = time.monotonic()
        pos = 0
        size = HEADER.size
        pending = worker.pending
        while len(buf) - pos >= size:
            status, _, req_id, length = HEADER.unpack_from(buf, pos)
            end = pos + size + length
            if end > len(buf):
                break
            body = bytes(buf[pos + size : end])
            pos = end
            req = pending.pop(req_id, None)
            if req is None:
                if status == ST_READY:
                    worker.ready = True
                    if worker.watchdog is not None:  # from the startup deadline to the call's
                        worker.watchdog.cancel()
                        self._arm(worker)
                continue  # a reply for a request dropped when the loop changed
            if req.op == OP_CALL:
                worker.calls_pending -= 1
            _settle(req, (status, body))
        del buf[:pos]

    # ---- the child's lifecycle

    def _live_worker(self) -> _Worker:
        worker = self._holder[0]
        if worker is None or worker.dead or worker.proc.poll() is not None:
            if worker is not None:
                worker.kill()
            worker = _Worker(self._timeout_s, self.max_memory_bytes)
            self._holder[0] = worker
        return worker

    def _bound_worker(self, loop: asyncio.AbstractEventLoop) -> _Worker:
        worker = self._live_worker()
        if worker.loop is loop:
            return worker
        if worker.loop is not None:
            if worker.pending and not worker.loop.is_closed():
                raise JsError("crash", "the JavaScript sandbox is in use on another event loop")
            worker.unbind()
            # Requests of a closed loop have nobody waiting: drop them, keep their order.
            worker.pending.clear()
            worker.calls_pending = 0
        worker.loop = loop
        loop.add_reader(worker.inp, self._on_readable, worker)
        if worker.outbuf:
            worker.flush_scheduled = True
            loop.call_soon(self._flush, worker)
        return worker

    def _arm(self, worker: _Worker) -> None:
        assert worker.loop is not None
        delay = max(0.0, self._deadline(worker) - time.monotonic())
        worker.watchdog = worker.loop.call_later(delay, self._check, worker)

    def _deadline(self, worker: _Worker) -> float:
        if not worker.ready:
            return worker.started + _STARTUP_TIMEOUT_S
        return worker.last_progress + self._hard_timeout_s

    def _check(self, worker: _Worker) -> None:
        worker.watchdog = None
        if worker.dead or not worker.pending:
            return
        if time.monotonic() < self._deadline(worker):
            self._arm(worker)
            return
        self._on_crash(worker, JsError("timeout", self._timeout_message()))

    def _on_crash(self, worker: _Worker, cause: JsError | None) -> None:
        """The child died (cause None) or wedged (cause: a timeout; killed here). Fail the
        request it was running when that is known; re-send the rest to a new child."""
        was_ready, loop = worker.ready, worker.loop
        worker.kill(keep_stderr=True)
        if self._holder[0] is worker:
            self._holder[0] = None
        error = worker.crash_error()
        if cause is not None:
            error = cause
        if error.kind == "memory":
            error = JsError("memory", f"{self._memory_message()} ({error})")
        calls = [r for r in worker.pending.values() if r.op == OP_CALL]
        worker.pending.clear()
        if not was_ready:  # it never came up: a new one would fail the same way
            for req in calls:
                _settle(req, error)
            return
        if calls and calls[0].solo:  # it was running this one
            _settle(calls.pop(0), error)
        survivors = [r for r in calls if r.future is not None and not r.future.done()]
        if not survivors or loop is None or loop.is_closed():
            return
        new = self._bound_worker(loop)
        for req in survivors:
            req.attempts += 1
            if req.attempts >= _MAX_ATTEMPTS:
                _settle(req, error)
                continue
            req.solo = True
            self._enqueue(new, req)

    def _error(self, status: bytes, body: bytes) -> JsError:
        if status == ST_TIMEOUT:
            return JsError("timeout", self._timeout_message())
        if status == ST_MEMORY:
            return JsError("memory", self._memory_message())
        return JsError("error", body.decode("utf-8", "replace"))

    def _timeout_message(self) -> str:
        return f"JavaScript timed out after {self.timeout_ms} ms"

    def _memory_message(self) -> str:
        return f"JavaScript exceeded {self.memory_mb} MB memory limit"
