// The Run page's results matrix, as pure logic (no DOM; tested with node --test in
// tests/js/matrix.test.mjs): the page state that lives in the URL, the API query it makes,
// what a cell and a summary card show, and how the arrow keys move through the grid.

import { ms, num, pct, truncate, usd } from "./format.js";

export const STATUSES = ["pass", "fail", "error"];
export const PAGE_SIZES = [25, 50, 100, 200];
export const DEFAULT_LIMIT = 50;
export const SORTS = [
  { value: "case", label: "Case order" },
  { value: "score", label: "Score, lowest first" },
  { value: "-score", label: "Score, highest first" },
  { value: "-cost", label: "Cost, highest first" },
  { value: "cost", label: "Cost, lowest first" },
  { value: "-latency", label: "Latency, slowest first" },
  { value: "latency", label: "Latency, fastest first" },
  { value: "-case", label: "Case order, last first" },
];
// GET /api/runs/{id}/report?format= : every report format, with the file it saves as.
export const EXPORTS = [
  { format: "html", label: "HTML", ext: "html" },
  { format: "json", label: "JSON", ext: "json" },
  { format: "markdown", label: "Markdown", ext: "md" },
  { format: "csv", label: "CSV", ext: "csv" },
  { format: "junit", label: "JUnit XML", ext: "xml" },
  { format: "jsonl", label: "JSONL", ext: "jsonl" },
];
export const MAX_TEXT = 200; // the API's limit on ?q=
export const PREVIEW = 140; // characters of an output a cell shows

const DEFAULTS = { status: null, assertion: null, q: "", sort: "case", column: null,
  limit: DEFAULT_LIMIT, offset: 0 };

function intOrNull(value, { min = 0, max = 2 ** 31 - 1 } = {}) {
  if (value === null || value === undefined || value === "") return null;
  const s = String(value).trim();
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return n >= min && n <= max ? n : null;
}

// The page state from a query object ({key: string}); anything unknown or out of range
// falls back to its default, so a hand-edited URL still opens.
export function readState(query = {}) {
  const q = query || {};
  const status = STATUSES.includes(q.status) ? q.status : null;
  const sort = SORTS.some((s) => s.value === q.sort) ? q.sort : "case";
  const limitN = intOrNull(q.limit);
  const limit = PAGE_SIZES.includes(limitN) ? limitN : DEFAULT_LIMIT;
  const offsetN = intOrNull(q.offset) ?? 0;
  const text = typeof q.q === "string" ? q.q.slice(0, MAX_TEXT) : "";
  const assertion = typeof q.assertion === "string" && q.assertion ? q.assertion.slice(0, 100) : null;
  return {
    status,
    assertion,
    q: text,
    sort,
    column: sort.replace("-", "") === "case" ? null : intOrNull(q.column),
    limit,
    offset: offsetN - (offsetN % limit), // always the start of a page
  };
}

// The state as URL query entries, defaults left out (a clean URL for the plain view).
export function stateToQuery(state) {
  const out = {};
  for (const key of Object.keys(DEFAULTS)) {
    const v = state[key];
    if (v === null || v === undefined || v === "" || v === DEFAULTS[key]) continue;
    out[key] = String(v);
  }
  return out;
}

// The query for GET /api/runs/{id}/matrix.
export function apiQuery(state) {
  const out = { limit: state.limit, offset: state.offset, sort: state.sort };
  if (state.status) out.status = state.status;
  if (state.assertion) out.assertion = state.assertion;
  if (state.q && state.q.trim()) out.q = state.q.trim();
  if (state.column !== null && state.column !== undefined && state.sort.replace("-", "") !== "case") {
    out.column = state.column;
  }
  return out;
}

export function isFiltered(state) {
  return Boolean(state.status || state.assertion || (state.q && state.q.trim()));
}

// A filter or order change starts again at the first page.
export function withChange(state, change) {
  const next = { ...state, ...change };
  if (!("offset" in change)) next.offset = 0;
  if (next.sort.replace("-", "") === "case") next.column = null;
  return next;
}

export function columnKey(col) {
  return JSON.stringify([col.prompt_id, col.provider_id, col.provider_label]);
}

export function columnTitle(col) {
  return `${col.prompt_label} × ${col.provider_label}`;
}

export function rowLabel(row, repeated) {
  const name = row.description || `case ${row.case_index}`;
  return repeated ? `${name} [sample ${row.sample}]` : name;
}

const STATUS_WORD = { pass: "PASS", fail: "FAIL", error: "ERROR" };

// What a cell shows; `null` (no trial for this case and column) shows a dash.
export function cellModel(cell) {
  if (!cell) return { empty: true, cls: "", badge: "", text: "—", label: "no result" };
  const status = STATUSES.includes(cell.status) ? cell.status : "error";
  const score = num(cell.score, 2);
  const text = truncate(status === "error" ? cell.error || "" : cell.output || "", PREVIEW);
  const bits = [`score ${score}`, usd(cell.cost), ms(cell.latency_ms)];
  return {
    empty: false,
    status,
    cls: `cell-${status}`,
    badge: STATUS_WORD[status],
    score,
    cost: usd(cell.cost),
    latency: ms(cell.latency_ms),
    meta: bits.slice(1).join(" · ") + (cell.cached ? " · cached" : ""),
    text: text === "" && status !== "error" ? "(empty output)" : text,
    dim: cell.match === false,
    label: `${STATUS_WORD[status]}, ${bits.join(", ")}`,
  };
}

// The facts of one prompt x provider summary card: [label, value] pairs.
export function cardFacts(stats) {
  if (!stats) return [["results", "none yet"]];
  const ci = Array.isArray(stats.pass_rate_ci) && stats.pass_rate_ci.length === 2
    ? `${pct(stats.pass_rate_ci[0]).replace("%", "")}–${pct(stats.pass_rate_ci[1])}` : "–";
  const tokens = stats.tokens && typeof stats.tokens === "object" ? stats.tokens.total : stats.tokens;
  const latency = stats.latency_ms || {};
  const p50 = ms(latency.p50);
  const p95 = ms(latency.p95);
  return [
    ["pass rate", pct(stats.pass_rate)],
    ["95% CI", ci],
    ["passed", `${count(stats.passed)} of ${count(stats.total)}` +
      (stats.errors ? `, ${count(stats.errors)} errors` : "")],
    ["mean score", num(stats.mean_score, 3)],
    ["cost", usd(stats.total_cost ?? stats.cost)],
    ["tokens", count(tokens)],
    ["latency p50/p95", `${p50.replace(" ms", "")} / ${p95}`],
  ];
}

export function count(n) {
  return n === null || n === undefined || Number.isNaN(n) ? "–" : Number(n).toLocaleString("en-US");
}

// "Cases 51–100 of 1,234" and the page numbers, for the pager.
export function pageInfo(page) {
  const { total, cases, offset, limit } = page;
  const pages = Math.max(1, Math.ceil(total / limit));
  const current = Math.min(pages, Math.floor(offset / limit) + 1);
  if (!total) return { pages, current: 1, text: "No cases", first: true, last: true };
  const from = Math.min(total, offset + 1);
  const to = Math.min(total, offset + limit);
  const of = total === cases ? count(total) : `${count(total)} matching (${count(cases)} in all)`;
  return {
    pages,
    current,
    text: offset >= total ? `Past the last case (${of})` : `Cases ${count(from)}–${count(to)} of ${of}`,
    first: offset <= 0,
    last: offset + limit >= total,
  };
}

export function offsetForPage(pageNumber, state, total) {
  const pages = Math.max(1, Math.ceil(total / state.limit));
  const p = Math.min(Math.max(1, Math.trunc(pageNumber) || 1), pages);
  return (p - 1) * state.limit;
}

// Arrow keys in the grid. `pos` = {row, col} on this page; `dims` = {rows, cols}. The answer
// is the new position, or {page: +1 | -1, row, col} to go to the next or previous page first,
// or null for a key the grid does not use. Enter opens a cell (the caller's job).
export function move(pos, key, dims, { ctrl = false } = {}) {
  const { rows, cols } = dims;
  if (rows <= 0 || cols <= 0) return null;
  const row = Math.min(Math.max(pos.row, 0), rows - 1);
  const col = Math.min(Math.max(pos.col, 0), cols - 1);
  switch (key) {
    case "ArrowRight":
      return { row, col: Math.min(cols - 1, col + 1) };
    case "ArrowLeft":
      return { row, col: Math.max(0, col - 1) };
    case "ArrowDown":
      return row + 1 < rows ? { row: row + 1, col } : { page: 1, row: 0, col };
    case "ArrowUp":
      return row > 0 ? { row: row - 1, col } : { page: -1, row: "last", col };
    case "Home":
      return ctrl ? { row: 0, col: 0 } : { row, col: 0 };
    case "End":
      return ctrl ? { row: rows - 1, col: cols - 1 } : { row, col: cols - 1 };
    case "PageDown":
      return { page: 1, row: 0, col };
    case "PageUp":
      return { page: -1, row: 0, col };
    default:
      return null;
  }
}

// The assertions of a trial's gradingResult as a flat list with depth, for the detail view.
export function assertionList(grading) {
  const out = [];
  const walk = (results, depth) => {
    for (const r of results || []) {
      const a = r.assertion || {};
      out.push({
        depth,
        type: a.type || "assertion",
        value: a.value === undefined ? null : a.value,
        pass: Boolean(r.pass),
        score: r.score,
        reason: r.reason || r.error || "",
      });
      walk(r.componentResults, depth + 1);
    }
  };
  if (grading) {
    if (grading.componentResults && grading.componentResults.length) walk(grading.componentResults, 0);
    else if (grading.assertion) walk([grading], 0);
  }
  return out;
}
