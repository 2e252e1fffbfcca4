"""A V8 sandbox for user JavaScript, in a child process, with time and memory limits.

Why a child process: V8 aborts the whole process on some allocations that its heap limit cannot
stop (e.g. `new Array(1e9).fill(0)` dies with "Fatal JavaScript out of memory: invalid table
size"), and a few C++ builtins ignore termination requests. In a child, such a crash or hang
costs one respawn instead of the server. Inside the child, mini-racer enforces the limits
itself (terminate on timeout, hard heap limit) so the usual runaway loop costs no respawn.

Each distinct function is compiled once and called by id with a JSON string of arguments, so
a call is one pipe round trip plus one short `eval` (~0.1 ms).

This file is also the worker's program (`python -I js_sandbox.py`), so it imports nothing from
promptyard and nothing heavy at module level.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

__all__ = ["JsCallResult", "JsError", "JsSandbox"]

# Frames: 1 status/op byte + 4 byte big-endian length + payload.
_HEADER = struct.Struct("!cI")
_ID = struct.Struct("!I")

OP_COMPILE = b"C"
OP_CALL = b"X"
ST_OK = b"O"
ST_ERROR = b"E"  # the user's code threw, or did not compile
ST_TIMEOUT = b"T"
ST_MEMORY = b"M"
ST_UNKNOWN = b"U"  # the worker does not know this function id (never compiled there)
ST_READY = b"R"

_STARTUP_TIMEOUT_S = 60.0


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


# --------------------------------------------------------------------------------------------
# Host side


@dataclass(slots=True)
class _Function:
    kind: str  # "body" (params output, context) or "module" (CommonJS source)
    source: str
    name: str | None
    label: str


class _Worker:
    """One child process and its pipes; not thread-safe (JsSandbox holds a lock)."""

    def __init__(self, timeout_s: float, max_memory: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), str(timeout_s), str(max_memory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._out = self.proc.stdin.fileno()
        self._in = self.proc.stdout.fileno()
        self._poll = select.poll()
        self._poll.register(self._in, select.POLLIN | select.POLLHUP | select.POLLERR)
        self._buf = bytearray()
        self.known: set[int] = set()  # function ids compiled in this worker
        try:
            status, _ = self.receive(time.monotonic() + _STARTUP_TIMEOUT_S)
        except JsError as exc:
            self.kill()
            raise JsError("crash", f"JavaScript sandbox failed to start: {exc}") from None
        if status != ST_READY:
            self.kill()
            raise JsError("crash", "JavaScript sandbox failed to start")

    def send(self, op: bytes, payload: bytes) -> None:
        data = memoryview(_HEADER.pack(op, len(payload)) + payload)
        try:
            while data:
                n = os.write(self._out, data)
                data = data[n:]
        except (BrokenPipeError, OSError):
            raise self.crashed() from None

    def receive(self, deadline: float) -> tuple[bytes, bytes]:
        """Read one frame; raise JsError("timeout") past `deadline` (the worker is then
        unusable) or JsError for a dead worker."""
        while True:
            if len(self._buf) >= _HEADER.size:
                status, length = _HEADER.unpack_from(self._buf)
                end = _HEADER.size + length
                if len(self._buf) >= end:
                    payload = bytes(self._buf[_HEADER.size : end])
                    del self._buf[:end]
                    return status, payload
            left = deadline - time.monotonic()
            if left <= 0 or not self._poll.poll(left * 1000):
                raise JsError("timeout", "timed out")
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise self.crashed()
            self._buf += chunk

    def crashed(self) -> JsError:
        """Reap the dead (or dying) worker and say why it died."""
        self.kill()
        err = b""
        if self.proc.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                err = self.proc.stderr.read() or b""
        text = err.decode("utf-8", "replace")
        if "out of memory" in text.lower():
            return JsError("memory", _v8_fatal_line(text))
        lines = text.strip().splitlines()
        detail = f": {lines[-1].strip()}" if lines else ""
        return JsError("crash", f"JavaScript sandbox crashed (exit {self.proc.returncode}){detail}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        _close_pipes(self.proc)


def _v8_fatal_line(text: str) -> str:
    for line in text.splitlines():
        if "Fatal" in line and "memory" in line:
            return line.strip("# ").strip()
    return "V8 ran out of memory"


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _shutdown(holder: list[_Worker | None]) -> None:
    worker = holder[0]
    holder[0] = None
    if worker is None:
        return
    # EOF on stdin asks the worker to exit; kill it if it does not.
    with contextlib.suppress(OSError):
        if worker.proc.stdin is not None:
            worker.proc.stdin.close()
    try:
        worker.proc.wait(2)
    except subprocess.TimeoutExpired:
        worker.proc.kill()
        worker.proc.wait(5)
    _close_pipes(worker.proc)


class JsSandbox:
    """Compile user JavaScript once, call it many times, under a time and a memory limit.

    Thread-safe (calls are serialised: there is one isolate). The worker process starts on
    first use and again after a crash or a hard timeout; compiled functions are re-sent to it.
    """

    def __init__(self, *, timeout_ms: int, max_memory_bytes: int) -> None:
        if timeout_ms <= 0 or max_memory_bytes <= 0:
            raise ValueError("timeout_ms and max_memory_bytes must be positive")
        self.timeout_ms = timeout_ms
        self.max_memory_bytes = max_memory_bytes
        self._timeout_s = timeout_ms / 1000
        # The worker enforces the limit itself; past this extra grace the host kills it
        # (a C++ builtin that ignores termination, a wedged process).
        self._hard_timeout_s = self._timeout_s + max(1.0, self._timeout_s)
        self._lock = threading.Lock()
        self._functions: list[_Function] = []
        self._ids: dict[tuple[str, str, str | None], int | JsError] = {}
        self._holder: list[_Worker | None] = [None]
        self._finalizer = weakref.finalize(self, _shutdown, self._holder)

    @property
    def memory_mb(self) -> str:
        return f"{self.max_memory_bytes / (1024 * 1024):g}"

    def compile_body(self, body: str, *, label: str) -> int:
        """A function of (output, context) with this body; returns its id. Raises JsError."""
        return self._compile("body", body, None, label)

    def compile_module(self, source: str, name: str | None, *, label: str) -> int:
        """The function a CommonJS module exports (`name`, else the module itself, else its
        `default`). Raises JsError for bad syntax or a module that exports no function."""
        return self._compile("module", source, name, label)

    def _compile(self, kind: str, source: str, name: str | None, label: str) -> int:
        key = (kind, source, name)
        found = self._ids.get(key)
        if isinstance(found, int):
            return found
        if found is not None:
            raise found
        with self._lock:
            fn_id = len(self._functions)
            self._functions.append(_Function(kind, source, name, label))
            try:
                self._ensure_compiled(self._worker(), fn_id, time.monotonic())
            except JsError as exc:
                if exc.kind == "error":  # deterministic: do not compile it again
                    self._ids[key] = exc
                raise
            self._ids[key] = fn_id
            return fn_id

    def call(self, fn_id: int, args_json: str) -> JsCallResult:
        """Call compiled function `fn_id` with a JSON array of arguments. Raises JsError."""
        with self._lock:
            start = time.monotonic()
            worker = self._worker()
            self._ensure_compiled(worker, fn_id, start)
            payload = _ID.pack(fn_id) + args_json.encode("utf-8", "surrogatepass")
            status, body = self._request(worker, OP_CALL, payload, start)
            if status == ST_UNKNOWN:  # cannot happen unless the worker lost state; recover
                worker.known.discard(fn_id)
                self._ensure_compiled(worker, fn_id, start)
                status, body = self._request(worker, OP_CALL, payload, start)
            if status != ST_OK:
                raise self._error(status, body)
            data = json.loads(body)
            if "e" in data:
                raise JsError("error", data["e"])
            return JsCallResult(data["t"], data.get("v"))

    def close(self) -> None:
        with self._lock:
            self._finalizer()

    # internals (lock held)

    def _worker(self) -> _Worker:
        worker = self._holder[0]
        if worker is None or worker.proc.poll() is not None:
            if worker is not None:
                worker.kill()
            worker = _Worker(self._timeout_s, self.max_memory_bytes)
            self._holder[0] = worker
        return worker

    def _ensure_compiled(self, worker: _Worker, fn_id: int, start: float) -> None:
        if fn_id in worker.known:
            return
        fn = self._functions[fn_id]
        spec = {"id": fn_id, "kind": fn.kind, "src": fn.source, "name": fn.name}
        status, body = self._request(worker, OP_COMPILE, json.dumps(spec).encode(), start)
        if status != ST_OK:
            raise self._error(status, body)
        worker.known.add(fn_id)

    def _request(
        self, worker: _Worker, op: bytes, payload: bytes, start: float
    ) -> tuple[bytes, bytes]:
        try:
            worker.send(op, payload)
            return worker.receive(start + self._hard_timeout_s)
        except JsError as exc:
            # Hard timeout or crash: this worker is gone; the next call starts another.
            worker.kill()
            self._holder[0] = None
            if exc.kind == "timeout":
                raise JsError("timeout", self._timeout_message()) from None
            if exc.kind == "memory":
                raise JsError("memory", f"{self._memory_message()} ({exc})") from None
            raise

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


# --------------------------------------------------------------------------------------------
# Worker side: runs in the child process; stdlib and py_mini_racer only.

# Installed in every fresh isolate. Internals live in a closure and a non-writable global so
# user code cannot replace them (user code shares the global object, as in promptfoo).
_PRELUDE = r"""
(() => {
  const fns = [];
  const parse = JSON.parse, stringify = JSON.stringify;
  let settled = null;
  const describe = (e) => {
    if (e instanceof Error) {
      let where = '';
      // Frames of user code read "(eval at ..., <anonymous>:LINE:COL)"; `new Function`
      // puts two header lines before the body.
      const m = /\(eval at .*?, <anonymous>:(\d+):\d+\)/.exec(String(e.stack || ''));
      if (m && Number(m[1]) > 2) where = ' (line ' + (Number(m[1]) - 2) + ')';
      return e.name + ': ' + e.message + where;
    }
    try { return 'threw ' + (typeof e === 'string' ? e : stringify(e)); }
    catch (_) { return 'threw ' + String(e); }
  };
  const ser = (r) => {
    const t = typeof r;
    if (t === 'undefined' || t === 'function' || t === 'symbol') return '{"t":"' + t + '"}';
    if (t === 'number' && !Number.isFinite(r)) return stringify({t: t, v: String(r)});
    if (t === 'bigint') return stringify({t: t, v: String(r)});
    let v;
    try { v = stringify(r); }
    catch (e) { return stringify({e: 'the result is not JSON-serialisable: ' + describe(e)}); }
    return '{"t":"' + t + '","v":' + v + '}';
  };
  const noRequire = (name) => {
    throw new Error('require(' + stringify(String(name)) +
      ') is not available: the JavaScript sandbox has no modules, files or network');
  };
  const pick = (m, name) => {
    if (name) {
      if (m != null && typeof m[name] === 'function') return m[name];
      throw new Error('the module does not export a function named ' + stringify(name));
    }
    if (typeof m === 'function') return m;
    if (m != null && typeof m.default === 'function') return m.default;
    throw new Error('the module must export a function (module.exports = fn or a default ' +
      'export), or name one with file://path.js:functionName');
  };
  const compile = (id, kind, src, name) => {
    try {
      if (kind === 'body') {
        fns[id] = new Function('output', 'context', src);
      } else {
        const module = {exports: {}};
        new Function('module', 'exports', 'require', src)(module, module.exports, noRequire);
        fns[id] = pick(module.exports, name);
      }
      return '';
    } catch (e) { return describe(e); }
  };
  const call = (id, args) => {
    const f = fns[id];
    if (f === undefined) return 'U';
    let r;
    try { r = f.apply(undefined, parse(args)); } catch (e) { return stringify({e: describe(e)}); }
    if (r !== null && (typeof r === 'object' || typeof r === 'function') &&
        typeof r.then === 'function') {
      settled = null;
      Promise.resolve(r).then(
        (v) => { settled = ser(v); },
        (e) => { settled = stringify({e: describe(e)}); });
      return 'P';
    }
    return ser(r);
  };
  const take = () => settled === null ?
    stringify({e: 'the async function did not settle (timers and I/O are not available)'}) :
    settled;
  for (const [k, v] of [['__pyCompile', compile], ['__pyCall', call], ['__pyTake', take]]) {
    Object.defineProperty(globalThis, k, {value: v, writable: false, configurable: false});
  }
})();
"""


class _Isolate:
    """One mini-racer isolate with our prelude; `run` evals with a timeout."""

    def __init__(self, timeout_s: float, max_memory: int) -> None:
        from py_mini_racer import MiniRacer

        self.timeout_s = timeout_s
        self.mr = MiniRacer()
        self.mr.set_hard_memory_limit(max_memory)
        self._fast = self._fast_path()
        self.compiled: set[int] = set()
        self.run(_PRELUDE, time.monotonic() + max(timeout_s, 5.0))

    def _fast_path(self) -> Any:
        """mini-racer's public eval hops through an asyncio loop (~0.3 ms a call); its context
        can also start an eval and deliver the result on a queue (~0.1 ms). Use that when
        this version of mini-racer has it."""
        ctx = getattr(self.mr, "_ctx", None)
        needed = (
            "_dll",
            "_ctx",
            "_non_cancelable_mr_task_results_queue",
            "_python_to_value_handle",
            "_value_handle_to_python",
        )
        if ctx is None or not all(hasattr(ctx, n) for n in needed):
            return None
        return ctx

    def run(self, code: str, deadline: float) -> Any:
        left = max(deadline - time.monotonic(), 0.001)
        ctx = self._fast
        if ctx is None:
            return self.mr.eval(code, timeout_sec=left)
        import queue

        handle = ctx._python_to_value_handle(code)
        task = ctx._dll.mr_eval(ctx._ctx, handle.raw, 0)
        results = ctx._non_cancelable_mr_task_results_queue
        try:
            value = results.get(timeout=left)
        except queue.Empty:
            ctx._dll.mr_cancel_task(ctx._ctx, task)
            value = results.get()
            from py_mini_racer import JSTimeoutException

            try:
                ctx._value_handle_to_python(value)
            except Exception as exc:  # the terminated eval: report it as a timeout
                raise JSTimeoutException() from exc
            raise JSTimeoutException() from None
        return ctx._value_handle_to_python(value)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.mr.close()


def _worker_main(timeout_s: float, max_memory: int) -> None:
    import py_mini_racer._exc as mr_exc
    from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException

    # A timed-out eval that we cancelled reports "terminated" (when this version has it).
    timeouts: tuple[type[BaseException], ...] = (JSTimeoutException,)
    terminated = getattr(mr_exc, "JSTerminatedException", None)
    if isinstance(terminated, type) and issubclass(terminated, BaseException):
        timeouts = (JSTimeoutException, terminated)

    # The protocol owns the real stdout; anything else printed goes to stderr.
    out = os.dup(1)
    os.dup2(2, 1)
    inp = 0
    buf = bytearray()

    def send(status: bytes, payload: bytes) -> None:
        data = memoryview(_HEADER.pack(status, len(payload)) + payload)
        while data:
            data = data[os.write(out, data) :]

    def receive() -> tuple[bytes, bytes] | None:
        while True:
            if len(buf) >= _HEADER.size:
                op, length = _HEADER.unpack_from(buf)
                end = _HEADER.size + length
                if len(buf) >= end:
                    payload = bytes(buf[_HEADER.size : end])
                    del buf[:end]
                    return op, payload
            chunk = os.read(inp, 1 << 16)
            if not chunk:
                return None
            buf.extend(chunk)

    sources: dict[int, tuple[str, str, str | None]] = {}
    isolate = _Isolate(timeout_s, max_memory)
    send(ST_READY, b"")

    def compile_in(iso: _Isolate, fn_id: int, deadline: float) -> str:
        kind, src, name = sources[fn_id]
        code = f"__pyCompile({fn_id},{json.dumps(kind)},{json.dumps(src)},{json.dumps(name)})"
        err = iso.run(code, deadline)
        if err:
            return str(err)
        iso.compiled.add(fn_id)
        return ""

    while True:
        frame = receive()
        if frame is None:
            break
        op, payload = frame
        deadline = time.monotonic() + timeout_s
        try:
            if op == OP_COMPILE:
                spec = json.loads(payload)
                sources[spec["id"]] = (spec["kind"], spec["src"], spec["name"])
                err = compile_in(isolate, spec["id"], deadline)
                send(ST_ERROR, err.encode()) if err else send(ST_OK, b"")
            else:
                (fn_id,) = _ID.unpack_from(payload)
                if fn_id not in sources:
                    send(ST_UNKNOWN, b"")
                    continue
                if fn_id not in isolate.compiled:  # a fresh isolate after an OOM
                    err = compile_in(isolate, fn_id, deadline)
                    if err:
                        send(ST_ERROR, err.encode())
                        continue
                args = payload[_ID.size :].decode("utf-8", "surrogatepass")
                result = isolate.run(f"__pyCall({fn_id},{json.dumps(args)})", deadline)
                if result == "P":  # a promise: its callbacks ran as the eval finished
                    result = isolate.run("__pyTake()", deadline)
                if result == "U":
                    send(ST_UNKNOWN, b"")
                else:
                    send(ST_OK, str(result).encode("utf-8", "surrogatepass"))
        except timeouts:
            send(ST_TIMEOUT, b"")
        except JSOOMException:
            # An isolate that hit its heap limit is not trusted again: start a fresh one.
            isolate.close()
            isolate = _Isolate(timeout_s, max_memory)
            send(ST_MEMORY, b"")
        except JSEvalException as exc:
            send(ST_ERROR, str(exc).encode("utf-8", "replace"))
    isolate.close()


if __name__ == "__main__":
    _worker_main(float(sys.argv[1]), int(sys.argv[2]))
