// Server-sent events over fetch(). EventSource cannot send an Authorization header, so the
// stream is read with fetch() and a ReadableStream reader, parsed by `SseParser` (pure, per the
// WHATWG event-stream rules), and reconnected after a drop with Last-Event-ID.
//
// How a job page resumes after a reload: `followJob` records the seq of every event it hands
// to the page in sessionStorage (per job, per tab). A reloaded page first renders the events
// it had already seen (seq <= the remembered seq) from the stored log in GET /api/jobs/{id},
// then streams with Last-Event-ID = that seq; the server replays the stored events after it
// before the live ones. So each event is rendered exactly once whichever way it arrives, and
// `followJob` also drops any seq it has already passed on, should a replay overlap. (A first
// visit, or a job already over, renders the whole snapshot and streams only what follows it.)

const FATAL = new Set([400, 401, 403, 404, 410]); // retrying will not help

// -- the parser (pure) ------------------------------------------------------------------------

// Feed it text (or bytes) as it arrives, split anywhere; it returns the complete events:
// {type, data, id}. Lines end in LF, CRLF or CR (a CR at the end of a chunk may be the first
// half of a CRLF); comment lines (":" heartbeats) are skipped; data lines join with "\n";
// `id` persists from event to event, as in EventSource; `retry` sets `this.retry` (ms).
export class SseParser {
  constructor() {
    this.buffer = "";
    this.skipLF = false; // the last chunk ended in CR: a leading LF belongs to it
    this.started = false; // a byte-order mark is dropped at the very start only
    this.type = "";
    this.data = [];
    this.lastEventId = "";
    this.retry = null;
    this.decoder = null;
  }

  pushBytes(bytes) {
    this.decoder ??= new TextDecoder("utf-8");
    return this.push(this.decoder.decode(bytes, { stream: true }));
  }

  push(text) {
    let s = text;
    if (!this.started && s.length) {
      this.started = true;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    if (this.skipLF && s.length) {
      if (s[0] === "\n") s = s.slice(1);
      this.skipLF = false;
    }
    this.buffer += s;
    const events = [];
    const eol = /\r\n|\r|\n/g;
    let start = 0;
    for (let m = eol.exec(this.buffer); m; m = eol.exec(this.buffer)) {
      const line = this.buffer.slice(start, m.index);
      start = eol.lastIndex;
      if (m[0] === "\r" && start === this.buffer.length) this.skipLF = true;
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  line(line) {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    return null;
  }

  dispatch() {
    const event = this.data.length
      ? { type: this.type || "message", data: this.data.join("\n"), id: this.lastEventId }
      : null;
    this.type = "";
    this.data = [];
    return event;
  }
}

// -- the last seen seq, per job (sessionStorage: per tab, kept across reloads) ----------------

const seqKey = (jobId) => `promptyard.job.${jobId}.seq`;

export function seenSeq(jobId, storage = globalThis.sessionStorage) {
  const value = Number(storage?.getItem(seqKey(jobId)));
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

export function rememberSeq(jobId, seq, storage = globalThis.sessionStorage) {
  storage?.setItem(seqKey(jobId), String(seq));
}

// -- the stream -------------------------------------------------------------------------------

export class StreamError extends Error {
  constructor(status, message) {
    super(message || `the event stream answered ${status}`);
    this.status = status;
  }
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

// Read `url` as an event stream until an `end` event, reconnecting with Last-Event-ID after a
// drop (backoff from `retryMs` doubling to `maxRetryMs`, or the server's `retry:`). Before a
// reconnect `stillLive()` is asked (e.g. "is the job still running?"): false stops quietly, as
// a stream closed on a finished job without `end` (interrupted) would never say more.
// Resolves to {reason: "end" | "finished" | "aborted", lastEventId}; 4xx answers reject.
export async function stream(url, {
  lastEventId = "", onEvent, onOpen, signal, headers = () => ({}), stillLive,
  fetchImpl = globalThis.fetch, sleep = pause, retryMs = 1000, maxRetryMs = 10000,
} = {}) {
  let last = String(lastEventId || "");
  let delay = retryMs;
  let pageError = null; // thrown by onEvent: a bug to surface, not a drop to retry
  for (;;) {
    if (signal?.aborted) return { reason: "aborted", lastEventId: last };
    const parser = new SseParser();
    try {
      const sent = { ...headers(), Accept: "text/event-stream" };
      if (last) sent["Last-Event-ID"] = last;
      const resp = await fetchImpl(url, { headers: sent, signal, cache: "no-store" });
      if (FATAL.has(resp.status)) throw new StreamError(resp.status, await detail(resp));
      if (!resp.ok || !resp.body) throw new Error(`the event stream answered ${resp.status}`);
      delay = retryMs;
      onOpen?.();
      const reader = resp.body.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        for (const event of parser.pushBytes(r.value)) {
          if (event.id) last = event.id;
          try {
            onEvent(event);
          } catch (err) {
            pageError = err;
            throw err;
          }
          if (event.type === "end") {
            reader.cancel().catch(() => {});
            return { reason: "end", lastEventId: last };
          }
        }
      }
    } catch (err) {
      if (err instanceof StreamError || err === pageError) throw err;
      if (signal?.aborted) return { reason: "aborted", lastEventId: last };
      // a network error or a drop: reconnect below
    }
    if (stillLive && !(await stillLive())) return { reason: "finished", lastEventId: last };
    await sleep(parser.retry ?? delay, signal);
    delay = Math.min(delay * 2, maxRetryMs);
  }
}

async function detail(resp) {
  try {
    return (await resp.json()).detail;
  } catch {
    return undefined;
  }
}

// A job's events, as envelopes {seq, job_id, step_index, type, payload}, after seq `after`,
// each passed to `onEvent` once and in order, its seq remembered for a reload.
export function followJob(jobId, { after = 0, onEvent, storage = globalThis.sessionStorage,
                                   ...options } = {}) {
  let last = after;
  return stream(`/api/jobs/${encodeURIComponent(jobId)}/events`, {
    ...options,
    lastEventId: after ? String(after) : "",
    onEvent: (event) => {
      const envelope = JSON.parse(event.data);
      if (!(envelope.seq > last)) return; // already passed on (an overlapping replay)
      last = envelope.seq;
      rememberSeq(jobId, last, storage);
      onEvent(envelope);
    },
  });
}
