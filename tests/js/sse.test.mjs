// The SSE client: the incremental parser, the seq memory, and reconnecting with Last-Event-ID.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  SseParser, followJob, rememberSeq, seenSeq, stream, StreamError,
} from "../../src/promptyard/server/ui/static/js/sse.js";

const STREAM = ": heartbeat\n\nid: 1\nevent: step\ndata: {\"a\":1}\n\n"
  + "id: 2\nevent: trial\ndata: line one\ndata: line two\n\n"
  + "id: 3\nevent: end\ndata: {}\n\n";

function feed(parser, chunks) {
  return chunks.flatMap((chunk) => parser.push(chunk));
}

test("a whole stream parses into its events", () => {
  const events = new SseParser().push(STREAM);
  assert.deepEqual(events, [
    { type: "step", data: "{\"a\":1}", id: "1" },
    { type: "trial", data: "line one\nline two", id: "2" },
    { type: "end", data: "{}", id: "3" },
  ]);
});

test("split anywhere, even one character at a time, gives the same events", () => {
  const whole = new SseParser().push(STREAM);
  for (const size of [1, 2, 3, 5, 7, 11]) {
    const chunks = [];
    for (let i = 0; i < STREAM.length; i += size) chunks.push(STREAM.slice(i, i + size));
    assert.deepEqual(feed(new SseParser(), chunks), whole, `chunks of ${size}`);
  }
});

test("CRLF and lone CR end lines too, also when a CRLF is split between chunks", () => {
  const crlf = STREAM.replaceAll("\n", "\r\n");
  const cr = STREAM.replaceAll("\n", "\r");
  const whole = new SseParser().push(STREAM);
  assert.deepEqual(new SseParser().push(crlf), whole);
  assert.deepEqual(new SseParser().push(cr), whole);
  // Cut right between every CR and its LF: the LF must not read as an empty line.
  assert.deepEqual(feed(new SseParser(), crlf.split(/(?<=\r)/)), whole);
  // "data: a\r" then "\r\n": the second CR is a real blank line that ends the event.
  assert.deepEqual(feed(new SseParser(), ["data: a\r", "\r\n"]), [{ type: "message", data: "a", id: "" }]);
});

test("bytes split inside a multi-byte character decode intact", () => {
  const bytes = new TextEncoder().encode("id: 9\ndata: héllo ✓ 🚀\n\n");
  const parser = new SseParser();
  const events = [];
  for (const b of bytes) events.push(...parser.pushBytes(Uint8Array.of(b)));
  assert.deepEqual(events, [{ type: "message", data: "héllo ✓ 🚀", id: "9" }]);
});

test("comments, unknown fields, retry, a BOM and field edge cases", () => {
  const parser = new SseParser();
  const events = parser.push("\uFEFF:hello\nfoo: bar\nretry: 2500\ndata\ndata:no-space\n"
    + "data:  two spaces\nevent\n\n");
  assert.equal(parser.retry, 2500);
  // "data" with no colon is an empty data line; only one leading space is stripped.
  assert.deepEqual(events, [{ type: "message", data: "\nno-space\n two spaces", id: "" }]);
  parser.push("retry: soon\n");
  assert.equal(parser.retry, 2500, "a non-numeric retry is ignored");
});

test("an event without data is not dispatched; the id still carries over", () => {
  const events = new SseParser().push("id: 7\n\nevent: x\n\ndata: y\n\n");
  assert.deepEqual(events, [{ type: "message", data: "y", id: "7" }]);
});

test("an unfinished event at the end of the input is held back", () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push("id: 1\ndata: partial"), []);
  assert.deepEqual(parser.push("\n\n"), [{ type: "message", data: "partial", id: "1" }]);
});

function memoryStorage() {
  const map = new Map();
  return { getItem: (k) => (map.has(k) ? map.get(k) : null), setItem: (k, v) => map.set(k, String(v)) };
}

test("the last seen seq is remembered per job", () => {
  const storage = memoryStorage();
  assert.equal(seenSeq("a", storage), 0);
  rememberSeq("a", 12, storage);
  rememberSeq("b", 3, storage);
  assert.equal(seenSeq("a", storage), 12);
  assert.equal(seenSeq("b", storage), 3);
  storage.setItem("promptyard.job.c.seq", "garbage");
  assert.equal(seenSeq("c", storage), 0);
});

function sse(events) {
  return events.map(([seq, type]) => `id: ${seq}\nevent: ${type}\ndata: ${JSON.stringify({ seq, type, payload: {} })}\n\n`).join("");
}

// A fetch that answers each call from `answers` in turn: text (streamed in small chunks, then
// closed: a drop unless it held `end`) or a status code. Records each call's headers.
function fakeFetch(answers) {
  const calls = [];
  const impl = async (url, init) => {
    calls.push({ url, headers: init.headers });
    const answer = answers.shift();
    if (answer === undefined) throw new Error("no more answers");
    if (typeof answer === "number") return new Response(JSON.stringify({ detail: "nope" }), { status: answer });
    const bytes = new TextEncoder().encode(answer);
    const body = new ReadableStream({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 13) controller.enqueue(bytes.slice(i, i + 13));
        controller.close();
      },
    });
    return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
  };
  return { impl, calls };
}

test("a dropped stream reconnects with Last-Event-ID and passes each event on once", async () => {
  const { impl, calls } = fakeFetch([
    sse([[1, "step"], [2, "trial"]]), // dropped after seq 2
    503, // the server is restarting
    sse([[2, "trial"], [3, "trial"], [4, "end"]]), // an overlapping replay
  ]);
  const storage = memoryStorage();
  const seen = [];
  const waits = [];
  const done = await followJob("job-1", {
    onEvent: (e) => seen.push(e.seq), storage, fetchImpl: impl,
    headers: () => ({ Authorization: "Bearer t" }), sleep: async (ms) => waits.push(ms),
  });
  assert.deepEqual(seen, [1, 2, 3, 4]);
  assert.equal(done.reason, "end");
  assert.equal(calls.length, 3);
  assert.equal(calls[0].url, "/api/jobs/job-1/events");
  assert.equal(calls[0].headers["Last-Event-ID"], undefined);
  assert.equal(calls[1].headers["Last-Event-ID"], "2");
  assert.equal(calls[2].headers["Last-Event-ID"], "2");
  assert.equal(calls[2].headers.Authorization, "Bearer t");
  assert.deepEqual(waits, [1000, 2000], "the backoff doubles while the server is away");
  assert.equal(seenSeq("job-1", storage), 4);
});

test("following from a seq sends it and skips anything at or before it", async () => {
  const { impl, calls } = fakeFetch([sse([[5, "trial"], [6, "trial"], [7, "end"]])]);
  const seen = [];
  await followJob("j", { after: 5, onEvent: (e) => seen.push(e.seq), storage: memoryStorage(),
                         fetchImpl: impl, sleep: async () => {} });
  assert.equal(calls[0].headers["Last-Event-ID"], "5");
  assert.deepEqual(seen, [6, 7]);
});

test("a stream closed on a finished job stops instead of reconnecting forever", async () => {
  const { impl, calls } = fakeFetch([sse([[1, "step"]]), sse([])]);
  let asked = 0;
  const done = await stream("/x", {
    onEvent: () => {}, fetchImpl: impl, sleep: async () => {},
    stillLive: async () => ++asked < 2,
  });
  assert.equal(done.reason, "finished");
  assert.equal(done.lastEventId, "1");
  assert.equal(calls.length, 2);
});

test("a 4xx answer is an error, not a reason to retry", async () => {
  const { impl, calls } = fakeFetch([404]);
  await assert.rejects(stream("/x", { onEvent: () => {}, fetchImpl: impl, sleep: async () => {} }),
    (err) => err instanceof StreamError && err.status === 404 && err.message === "nope");
  assert.equal(calls.length, 1);
});

test("an error thrown by the page's handler surfaces instead of looping", async () => {
  const { impl, calls } = fakeFetch([sse([[1, "step"]]), sse([[1, "step"]])]);
  await assert.rejects(stream("/x", {
    onEvent: () => { throw new TypeError("page bug"); }, fetchImpl: impl, sleep: async () => {},
  }), /page bug/);
  assert.equal(calls.length, 1);
});

test("an abort stops the stream", async () => {
  const controller = new AbortController();
  const { impl } = fakeFetch([sse([[1, "step"]]), sse([[2, "step"]])]);
  const done = await stream("/x", {
    signal: controller.signal, fetchImpl: impl, sleep: async () => {},
    onEvent: () => controller.abort(),
  });
  assert.equal(done.reason, "aborted");
});
