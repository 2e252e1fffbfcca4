// The Run page's matrix logic (static/js/matrix.js) under node's test runner.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  apiQuery,
  assertionList,
  cardFacts,
  cellModel,
  columnKey,
  columnTitle,
  DEFAULT_LIMIT,
  EXPORTS,
  isFiltered,
  move,
  offsetForPage,
  pageInfo,
  readState,
  rowLabel,
  stateToQuery,
  withChange,
} from "../../src/promptyard/server/ui/static/js/matrix.js";

test("the URL state reads back what it wrote, defaults left out", () => {
  const state = readState({ status: "fail", assertion: "regex", q: "w42", sort: "-cost",
    column: "1", limit: "100", offset: "200" });
  assert.deepEqual(state, { status: "fail", assertion: "regex", q: "w42", sort: "-cost",
    column: 1, limit: 100, offset: 200 });
  assert.deepEqual(readState(stateToQuery(state)), state);
  assert.deepEqual(stateToQuery(readState({})), {});
  assert.deepEqual(readState({}), { status: null, assertion: null, q: "", sort: "case",
    column: null, limit: DEFAULT_LIMIT, offset: 0 });
});

test("a hand-edited URL falls back to defaults instead of failing", () => {
  const state = readState({ status: "maybe", sort: "name", limit: "7", offset: "-3",
    column: "x", q: "a".repeat(500) });
  assert.equal(state.status, null);
  assert.equal(state.sort, "case");
  assert.equal(state.limit, DEFAULT_LIMIT);
  assert.equal(state.offset, 0);
  assert.equal(state.column, null);
  assert.equal(state.q.length, 200);
  // An offset inside a page snaps to that page's start; a column only counts when sorting.
  assert.equal(readState({ offset: "130", limit: "50" }).offset, 100);
  assert.equal(readState({ sort: "case", column: "2" }).column, null);
});

test("the API query carries only the filters in use", () => {
  const base = readState({});
  assert.deepEqual(apiQuery(base), { limit: 50, offset: 0, sort: "case" });
  const s = readState({ status: "error", q: "  timeout ", sort: "latency", column: "0" });
  assert.deepEqual(apiQuery(s), { limit: 50, offset: 0, sort: "latency", status: "error",
    q: "timeout", column: 0 });
  assert.equal(isFiltered(base), false);
  assert.equal(isFiltered(s), true);
  assert.equal(isFiltered({ ...base, q: "   " }), false);
});

test("changing a filter or the order goes back to the first page", () => {
  const s = readState({ offset: "150", limit: "50", sort: "score", column: "1" });
  assert.equal(withChange(s, { status: "fail" }).offset, 0);
  assert.equal(withChange(s, { offset: 100 }).offset, 100);
  assert.equal(withChange(s, { sort: "-case" }).column, null);
  assert.equal(withChange(s, { sort: "cost" }).column, 1);
});

test("a cell shows status, score, cost, latency and a cut preview; an error shows its error", () => {
  const pass = cellModel({ index: 3, status: "pass", score: 1, cost: 0.00002, latency_ms: 120.4,
    output: "x".repeat(500), error: null, cached: true, match: true });
  assert.equal(pass.cls, "cell-pass");
  assert.equal(pass.badge, "PASS");
  assert.equal(pass.score, "1.00");
  assert.match(pass.meta, /^\$0\.000020 · 120 ms · cached$/);
  assert.equal(pass.text.length, 140);
  assert.ok(pass.text.endsWith("…"));
  assert.equal(pass.dim, false);
  const err = cellModel({ status: "error", score: 0, cost: null, latency_ms: 5,
    output: "", error: "HTTP 529", match: false });
  assert.equal(err.cls, "cell-error");
  assert.equal(err.text, "HTTP 529");
  assert.equal(err.dim, true);
  assert.match(err.label, /^ERROR, score 0\.00, –, 5 ms$/);
  assert.equal(cellModel({ status: "fail", score: 0.5, output: "" }).text, "(empty output)");
  const none = cellModel(null);
  assert.equal(none.empty, true);
  assert.equal(none.text, "—");
});

test("markup in an output stays a string in the model", () => {
  const hostile = "<img src=x onerror=alert(1)>";
  assert.equal(cellModel({ status: "fail", score: 0, output: hostile }).text, hostile);
});

test("summary card facts: pass rate with its interval, counts, cost, tokens, latency", () => {
  const facts = Object.fromEntries(cardFacts({
    total: 100, passed: 85, errors: 4, pass_rate: 0.85, pass_rate_ci: [0.767, 0.907],
    mean_score: 0.925, cost: 0.0123, total_cost: 0.0312, tokens: { total: 7300 },
    latency_ms: { p50: 1030.2, p95: 1897.8 },
  }));
  assert.equal(facts["pass rate"], "85.0%");
  assert.equal(facts["95% CI"], "76.7–90.7%");
  assert.equal(facts.passed, "85 of 100, 4 errors");
  assert.equal(facts["mean score"], "0.925");
  assert.equal(facts.cost, "$0.03"); // the task's and the judges' spend
  assert.equal(facts.tokens, "7,300");
  assert.equal(facts["latency p50/p95"], "1030 / 1898 ms");
  const live = Object.fromEntries(cardFacts({ total: 2, passed: 1, pass_rate: 0.5,
    latency_ms: { p50: null, p95: null } }));
  assert.equal(live["95% CI"], "–");
  assert.equal(live["latency p50/p95"], "– / –");
  assert.deepEqual(cardFacts(null), [["results", "none yet"]]);
});

test("page info names the range, the matches and the pages", () => {
  let info = pageInfo({ total: 1234, cases: 1234, offset: 50, limit: 50 });
  assert.equal(info.text, "Cases 51–100 of 1,234");
  assert.equal(info.current, 2);
  assert.equal(info.pages, 25);
  assert.equal(info.first, false);
  assert.equal(info.last, false);
  info = pageInfo({ total: 30, cases: 25000, offset: 0, limit: 50 });
  assert.equal(info.text, "Cases 1–30 of 30 matching (25,000 in all)");
  assert.equal(info.first && info.last, true);
  assert.equal(pageInfo({ total: 0, cases: 10, offset: 0, limit: 50 }).text, "No cases");
  assert.match(pageInfo({ total: 10, cases: 10, offset: 50, limit: 50 }).text, /^Past the last/);
  const s = readState({ limit: "25" });
  assert.equal(offsetForPage(3, s, 100), 50);
  assert.equal(offsetForPage(99, s, 100), 75);
  assert.equal(offsetForPage(-1, s, 100), 0);
});

test("arrow keys move in the grid and past its edges to the next or previous page", () => {
  const dims = { rows: 3, cols: 4 };
  assert.deepEqual(move({ row: 1, col: 1 }, "ArrowRight", dims), { row: 1, col: 2 });
  assert.deepEqual(move({ row: 1, col: 3 }, "ArrowRight", dims), { row: 1, col: 3 });
  assert.deepEqual(move({ row: 1, col: 0 }, "ArrowLeft", dims), { row: 1, col: 0 });
  assert.deepEqual(move({ row: 1, col: 2 }, "ArrowDown", dims), { row: 2, col: 2 });
  assert.deepEqual(move({ row: 2, col: 2 }, "ArrowDown", dims), { page: 1, row: 0, col: 2 });
  assert.deepEqual(move({ row: 0, col: 2 }, "ArrowUp", dims), { page: -1, row: "last", col: 2 });
  assert.deepEqual(move({ row: 2, col: 2 }, "Home", dims), { row: 2, col: 0 });
  assert.deepEqual(move({ row: 1, col: 1 }, "End", dims), { row: 1, col: 3 });
  assert.deepEqual(move({ row: 1, col: 1 }, "End", dims, { ctrl: true }), { row: 2, col: 3 });
  assert.deepEqual(move({ row: 2, col: 3 }, "Home", dims, { ctrl: true }), { row: 0, col: 0 });
  assert.deepEqual(move({ row: 1, col: 1 }, "PageDown", dims), { page: 1, row: 0, col: 1 });
  assert.equal(move({ row: 0, col: 0 }, "a", dims), null);
  assert.equal(move({ row: 0, col: 0 }, "ArrowDown", { rows: 0, cols: 4 }), null);
});

test("columns, rows and export formats are named for people", () => {
  const col = { prompt_id: "p1", prompt_label: "short", provider_id: "echo", provider_label: "e" };
  assert.equal(columnTitle(col), "short × e");
  assert.notEqual(columnKey(col), columnKey({ ...col, provider_label: "f" }));
  assert.equal(rowLabel({ description: null, case_index: 7, sample: 2 }, false), "case 7");
  assert.equal(rowLabel({ description: "greet", case_index: 7, sample: 2 }, true),
    "greet [sample 2]");
  assert.deepEqual(EXPORTS.map((x) => x.format), ["html", "json", "markdown", "csv", "junit", "jsonl"]);
});

test("assertions flatten with their depth, reason and expected value", () => {
  const grading = { pass: false, score: 0.5, reason: "r", componentResults: [
    { pass: true, score: 1, reason: "has it", assertion: { type: "icontains", value: "w1" } },
    { pass: false, score: 0, reason: "", error: "judge failed", assertion: { type: "assert-set" },
      componentResults: [{ pass: false, score: 0, reason: "nope", assertion: { type: "regex" } }] },
  ] };
  assert.deepEqual(assertionList(grading), [
    { depth: 0, type: "icontains", value: "w1", pass: true, score: 1, reason: "has it" },
    { depth: 0, type: "assert-set", value: null, pass: false, score: 0, reason: "judge failed" },
    { depth: 1, type: "regex", value: null, pass: false, score: 0, reason: "nope" },
  ]);
  assert.deepEqual(assertionList(null), []);
  assert.equal(assertionList({ pass: true, score: 1, reason: "ok",
    assertion: { type: "equals", value: "a" } }).length, 1);
});
