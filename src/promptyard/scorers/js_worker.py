"""The JavaScript sandbox's child program: a mini-racer (V8) isolate behind a pipe.

Run as `python -I js_worker.py TIMEOUT_S MAX_MEMORY` by js_sandbox. Requests arrive on stdin
and replies leave on stdout as frames (see HEADER), each tagged with the request's id. The
worker reads every request already waiting and runs them in order; consecutive calls run in
one V8 eval (an eval costs ~0.1 ms, a call in a batch ~0.01 ms) and are answered in one
write, so a burst of calls from many trials costs one read, one eval and one write here.
Imports nothing from promptyard and nothing heavy at module level: the host imports the
protocol constants from here.
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

MAX_BATCH = 256  # calls in one eval
MAX_BATCH_BYTES = 4 << 20  # their arguments' JSON

# Installed in every fresh isolate. Internals live in a closure and a non-writable global so
# user code cannot replace them (user code shares the global object, as in promptfoo).
_PRELUDE = r"""
(() => {
  const fns = [];
  const parse = JSON.parse, stringify = JSON.stringify;
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
  // A batch runs calls in order into its own results array (a timed-out batch's late
  // promise callbacks cannot write into the next one). null marks an unsettled promise.
  let results = [];
  let current = 0;
  const NOT_SETTLED = stringify(
    {e: 'the async function did not settle (timers and I/O are not available)'});
  const callInto = (res, i, id, args) => {
    const f = fns[id];
    if (f === undefined) { res[i] = 'U'; return; }
    let r;
    try { r = f.apply(undefined, parse(args)); }
    catch (e) { res[i] = stringify({e: describe(e)}); return; }
    if (r !== null && (typeof r === 'object' || typeof r === 'function') &&
        typeof r.then === 'function') {
      res[i] = null;
      Promise.resolve(r).then(
        (v) => { res[i] = ser(v); },
        (e) => { res[i] = stringify({e: describe(e)}); });
      return;
    }
    res[i] = ser(r);
  };
  // flat: [id, args, id, args, ...]; returns the results joined by newlines (JSON has none),
  // or 'P' when a promise is pending: its callbacks run as the eval ends, then take().
  const batch = (flat) => {
    const res = results = [];
    for (current = 0; current * 2 < flat.length; current++) {
      callInto(res, current, flat[2 * current], flat[2 * current + 1]);
    }
    return res.includes(null) ? 'P' : res.join('\n');
  };
  const take = () => results.map((r) => r === null ? NOT_SETTLED : r).join('\n');
  // After a timeout: how many calls finished (settled), then their results.
  const progress = () => {
    let n = current;
    const pendingAt = results.indexOf(null);
    if (pendingAt !== -1 && pendingAt < n) n = pendingAt;
    return [String(n)].concat(results.slice(0, n)).join('\n');
  };
  for (const [k, v] of [['__pyCompile', compile], ['__pyBatch', batch], ['__pyTake', take],
                        ['__pyProgress', progress]]) {
    Object.defineProperty(globalThis, k, {value: v, writable: false, configurable: false});
  }
})();
"""


_GC_CHECK_EVERY = 500  # evals between heap checks (a check costs well under a millisecond)


class _Isolate:
    """One mini-racer isolate with our prelude; `run` evals with a timeout."""

    def __init__(self, timeout_s: float, max_memory: int) -> None:
        from py_mini_racer import MiniRacer

        self.timeout_s = timeout_s
        self.max_memory = max_memory
        self._evals = 0
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

    def collect_garbage_now_and_then(self) -> None:
        """V8 collects lazily and may let garbage grow to the hard limit, which then fails an
        innocent call: every so many evals, ask for a full collection if the heap is large."""
        self._evals += 1
        if self._evals % _GC_CHECK_EVERY:
            return
        stats = self.mr.heap_stats()
        if stats.get("used_heap_size", 0) > self.max_memory // 4:
            self.mr.low_memory_notification()

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

    def flush() -> None:
        data = memoryview(held)
        while data:
            data = data[os.write(out, data) :]
        data.release()
        del held[:]

    def reply(status: bytes, req_id: int, payload: bytes) -> None:
        held.extend(HEADER.pack(status, 0, req_id, len(payload)))
        held.extend(payload)

    sources: dict[int, tuple[str, str, str | None]] = {}
    isolate = _Isolate(timeout_s, max_memory)

    def compile_in(fn_id: int) -> str:
        kind, src, name = sources[fn_id]
        code = f"__pyCompile({fn_id},{json.dumps(kind)},{json.dumps(src)},{json.dumps(name)})"
        err = isolate.run(code, time.monotonic() + timeout_s)
        if err:
            return str(err)
        isolate.compiled.add(fn_id)
        return ""

    def fresh_isolate() -> None:
        # An isolate that hit its heap limit is not trusted again.
        nonlocal isolate
        isolate.close()
        isolate = _Isolate(timeout_s, max_memory)

    def run_compile(req_id: int, payload: bytes) -> None:
        try:
            spec = json.loads(payload)
            sources[spec["id"]] = (spec["kind"], spec["src"], spec["name"])
            err = compile_in(spec["id"])
            reply(ST_ERROR, req_id, err.encode()) if err else reply(ST_OK, req_id, b"")
        except timeouts:
            reply(ST_TIMEOUT, req_id, b"")
        except JSOOMException:
            fresh_isolate()
            reply(ST_MEMORY, req_id, b"")
        except JSEvalException as exc:
            reply(ST_ERROR, req_id, str(exc).encode("utf-8", "replace"))

    def run_calls(calls: list[tuple[int, int, str]], *, retried: bool = False) -> None:
        """Run (request id, function id, args JSON) calls, as few evals as possible, each
        call with the full time limit: a batch that times out reports the calls that
        finished and goes on from the one it stopped in, which then runs first."""
        todo: list[tuple[int, int, str]] = []
        for call in calls:
            fn_id = call[1]
            if fn_id not in sources:
                reply(ST_UNKNOWN, call[0], b"")
                continue
            if fn_id not in isolate.compiled:  # a fresh isolate after an OOM, or a bad compile
                try:
                    err = compile_in(fn_id)
                except timeouts:
                    err = "compiling timed out"
                if err:
                    reply(ST_ERROR, call[0], err.encode())
                    continue
            todo.append(call)
        while todo:
            flat = ",".join(f"{fn_id},{json.dumps(args)}" for _, fn_id, args in todo)
            deadline = time.monotonic() + timeout_s
            try:
                result = isolate.run(f"__pyBatch([{flat}])", deadline)
                isolate.collect_garbage_now_and_then()
                if result == "P":  # promises: their callbacks ran as the eval finished
                    result = isolate.run("__pyTake()", deadline)
                for (req_id, _, _), part in zip(todo, str(result).split("\n"), strict=True):
                    answer(req_id, part)
                return
            except timeouts:
                try:
                    progress = isolate.run("__pyProgress()", time.monotonic() + 1.0)
                except JSOOMException:  # the heap is at its limit: the stuck call is to blame
                    fresh_isolate()
                    reply(ST_MEMORY, todo[0][0], b"")
                    for call in todo[1:]:  # recompiled in the fresh isolate, one at a time
                        run_calls([call])
                    return
                lines = str(progress).split("\n")
                done = int(lines[0])
                for (req_id, _, _), part in zip(todo, lines[1 : done + 1], strict=False):
                    answer(req_id, part)
                if done == 0:  # it ran from the start of the eval: a real timeout
                    reply(ST_TIMEOUT, todo[0][0], b"")
                    done = 1
                todo = todo[done:]
            except JSOOMException:
                fresh_isolate()
                if len(todo) == 1:
                    if retried:
                        reply(ST_MEMORY, todo[0][0], b"")
                    else:
                        # A heap filled by many earlier calls can hit the limit on an innocent
                        # one: only a call that fills a fresh isolate too is to blame.
                        run_calls(todo, retried=True)
                    return
                # Which call it was is unknown: run each alone (earlier ones run again).
                for call in todo:
                    run_calls([call])
                return
            except JSEvalException as exc:
                if len(todo) == 1:
                    reply(ST_ERROR, todo[0][0], str(exc).encode("utf-8", "replace"))
                    return
                for call in todo:
                    run_calls([call])
                return

    def answer(req_id: int, part: str) -> None:
        if part == "U":
            reply(ST_UNKNOWN, req_id, b"")
        else:
            reply(ST_OK, req_id, part.encode("utf-8", "surrogatepass"))

    reply(ST_READY, 0, b"")
    flush()
    buf = bytearray()
    pos = 0
    batch: list[tuple[int, int, str]] = []
    batch_bytes = 0
    while True:
        frame = None
        if len(buf) - pos >= HEADER.size:
            op, flags, req_id, length = HEADER.unpack_from(buf, pos)
            if len(buf) - pos - HEADER.size >= length:
                start = pos + HEADER.size
                frame = (op, flags, req_id, bytes(buf[start : start + length]))
        # Run the batch when the next frame cannot join it; answer it in one write.
        batchable = frame is not None and frame[0] == OP_CALL and not frame[1] & FLAG_SOLO
        if batch and (not batchable or len(batch) >= MAX_BATCH or batch_bytes > MAX_BATCH_BYTES):
            run_calls(batch)
            batch = []
            batch_bytes = 0
            flush()
        if frame is None:
            del buf[:pos]
            pos = 0
            chunk = os.read(0, 1 << 20)
            if not chunk:
                break
            buf.extend(chunk)
            continue
        op, flags, req_id, payload = frame
        pos += HEADER.size + len(payload)
        if op == OP_COMPILE:
            run_compile(req_id, payload)
            continue  # its reply goes out with the next write: nobody waits for it
        (fn_id,) = FN_ID.unpack_from(payload)
        call = (req_id, fn_id, payload[FN_ID.size :].decode("utf-8", "surrogatepass"))
        if batchable:
            batch.append(call)
            batch_bytes += len(payload)
        else:  # SOLO: alone, answered at once, so a crash in it is pinned on it
            flush()
            run_calls([call])
            flush()
    # EOF: the host is done and every reply is out. Exit at once: tearing V8 and the
    # interpreter down would cost ~50 ms that the host waits for, to free what the OS frees.
    os._exit(0)


if __name__ == "__main__":
    _worker_main(float(sys.argv[1]), int(sys.argv[2]))
