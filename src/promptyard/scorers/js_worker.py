"""The JavaScript sandbox's child program: a mini-racer (V8) isolate behind a pipe.

Run as `python -I js_worker.py TIMEOUT_S MAX_MEMORY` by js_sandbox. Requests arrive on stdin
and replies leave on stdout as frames (see HEADER), each tagged with the request's id. The
worker reads every request already waiting, runs them in order and answers them in one write
(flushing at least every FLUSH_S, and at once for a SOLO request), so a burst of calls from
many trials costs one read and one write here. Imports nothing from promptyard and nothing
heavy at module level: the host imports the protocol constants from here.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import sys
import time
from typing import Any

# Frames: op/status byte, flags byte, request id, payload length (big-endian), payload.
HEADER = struct.Struct("!cBII")
FN_ID = struct.Struct("!I")
FLAG_SOLO = 1  # flush held replies before this request and its own reply right after it

OP_COMPILE = b"C"  # payload: JSON {id, kind, src, name}
OP_CALL = b"X"  # payload: function id, then a JSON array of arguments
ST_OK = b"O"
ST_ERROR = b"E"  # the user's code threw, or did not compile
ST_TIMEOUT = b"T"
ST_MEMORY = b"M"
ST_UNKNOWN = b"U"  # the worker does not know this function id (never compiled there)
ST_READY = b"R"  # sent once, with request id 0, when the isolate is up

FLUSH_S = 0.01

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
    held = bytearray()  # replies not written yet
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal last_flush
        data = memoryview(held)
        while data:
            data = data[os.write(out, data) :]
        data.release()
        del held[:]
        last_flush = time.monotonic()

    def reply(status: bytes, req_id: int, payload: bytes) -> None:
        held.extend(HEADER.pack(status, 0, req_id, len(payload)))
        held.extend(payload)

    sources: dict[int, tuple[str, str, str | None]] = {}
    isolate = _Isolate(timeout_s, max_memory)

    def compile_in(iso: _Isolate, fn_id: int, deadline: float) -> str:
        kind, src, name = sources[fn_id]
        code = f"__pyCompile({fn_id},{json.dumps(kind)},{json.dumps(src)},{json.dumps(name)})"
        err = iso.run(code, deadline)
        if err:
            return str(err)
        iso.compiled.add(fn_id)
        return ""

    def handle(op: bytes, payload: bytes) -> tuple[bytes, bytes]:
        nonlocal isolate
        deadline = time.monotonic() + timeout_s
        try:
            if op == OP_COMPILE:
                spec = json.loads(payload)
                sources[spec["id"]] = (spec["kind"], spec["src"], spec["name"])
                err = compile_in(isolate, spec["id"], deadline)
                return (ST_ERROR, err.encode()) if err else (ST_OK, b"")
            (fn_id,) = FN_ID.unpack_from(payload)
            if fn_id not in sources:
                return ST_UNKNOWN, b""
            if fn_id not in isolate.compiled:  # a fresh isolate after an OOM, or a bad compile
                err = compile_in(isolate, fn_id, deadline)
                if err:
                    return ST_ERROR, err.encode()
            args = payload[FN_ID.size :].decode("utf-8", "surrogatepass")
            result = isolate.run(f"__pyCall({fn_id},{json.dumps(args)})", deadline)
            if result == "P":  # a promise: its callbacks ran as the eval finished
                result = isolate.run("__pyTake()", deadline)
            if result == "U":
                return ST_UNKNOWN, b""
            return ST_OK, str(result).encode("utf-8", "surrogatepass")
        except timeouts:
            return ST_TIMEOUT, b""
        except JSOOMException:
            # An isolate that hit its heap limit is not trusted again: start a fresh one.
            isolate.close()
            isolate = _Isolate(timeout_s, max_memory)
            return ST_MEMORY, b""
        except JSEvalException as exc:
            return ST_ERROR, str(exc).encode("utf-8", "replace")

    reply(ST_READY, 0, b"")
    flush()
    buf = bytearray()
    pos = 0
    while True:
        complete = False
        if len(buf) - pos >= HEADER.size:
            op, flags, req_id, length = HEADER.unpack_from(buf, pos)
            complete = len(buf) - pos - HEADER.size >= length
        if not complete:
            del buf[:pos]
            pos = 0
            if held:  # everything waiting has run: answer it before blocking
                flush()
            chunk = os.read(0, 1 << 20)
            if not chunk:
                break
            buf.extend(chunk)
            continue
        start = pos + HEADER.size
        pos = start + length
        if flags & FLAG_SOLO and held:
            flush()
        status, body = handle(op, bytes(buf[start:pos]))
        reply(status, req_id, body)
        # Flushing at least every FLUSH_S keeps the host's watchdog fed in a long burst.
        if flags & FLAG_SOLO or time.monotonic() - last_flush > FLUSH_S:
            flush()
    isolate.close()


if __name__ == "__main__":
    _worker_main(float(sys.argv[1]), int(sys.argv[2]))
