// The Run page: summary cards per prompt x provider, export buttons, and the results matrix
// (cases as rows, prompt x provider as columns), one server-side page at a time. Filters,
// order and page live in the URL. A cell opens a dialog with the whole trial. Every model
// output and prompt goes into the page as text (dom.js `el`), never as markup.

import { api, pageData } from "../api.js";
import { clear, el, empty, guarded, showBanner } from "../dom.js";
import { truncate, usd, when } from "../format.js";
import * as M from "../matrix.js";

const data = pageData();
const runId = data.params.run_id;
const runPath = `/runs/${encodeURIComponent(runId)}`;
const $ = (id) => document.getElementById(id);

let state = M.readState(data.query);
let page = null; // the last matrix answer
let pos = { row: 0, col: 0 }; // the focusable cell (roving tabindex)
let inflight = null; // AbortController of the matrix request in flight
let opener = null; // the cell that opened the dialog
let loads = 0; // page loads started: only the newest one's end clears aria-busy

// -- start -----------------------------------------------------------------------------------

guarded(async () => {
  let run, first;
  try {
    // What the first screen needs, at once; the assertion facets (a scan of every verdict)
    // come after the first rows are on screen.
    [run, first] = await Promise.all([api(runPath), firstPage()]);
  } catch (err) {
    if (err && err.status === 404) {
      $("run-meta").replaceChildren(empty("No run here: check the link, or pick a run from Home."));
    } else {
      $("run-meta").textContent = "";
    }
    throw err;
  }
  renderHeader(run);
  renderExports(run);
  renderFilters(first.columns);
  $("results").hidden = false;
  showPage(first);
  wire();
  addFacets(await api(`${runPath}/assertions`).catch(() => []));
});

// The page the URL asks for; a URL the API refuses (say, a column the run lacks) opens the
// plain view instead, saying why.
async function firstPage() {
  try {
    return await fetchPage(state);
  } catch (err) {
    if (!err || (err.status !== 400 && err.status !== 422)) throw err;
    state = M.readState({});
    history.replaceState(null, "", location.pathname);
    const answer = await fetchPage(state);
    showBanner(`${err.message} — showing every result instead.`);
    return answer;
  }
}

function fetchPage(s) {
  if (inflight) inflight.abort();
  inflight = new AbortController();
  return api(`${runPath}/matrix`, { query: M.apiQuery(s), signal: inflight.signal });
}

// -- header, cards, exports --------------------------------------------------------------------

function renderHeader(run) {
  const summary = run.summary || {};
  $("title").textContent = run.description || `Run ${run.id.slice(0, 8)}`;
  document.title = `${$("title").textContent} · Promptyard`;
  const status = el("span", { class: `tag ${statusClass(run.status)}` }, run.status);
  const bits = [
    `${M.count(run.trial_count)} results`,
    `started ${when(run.created_at)}`,
  ];
  if (run.finished_at) bits.push(`finished ${when(run.finished_at)}`);
  if (summary.total !== undefined) {
    bits.push(`${M.count(summary.passed)} passed, ${M.count(summary.failed)} failed, ` +
      `${M.count(summary.errors)} errors`);
  }
  if (summary.total_cost !== undefined || summary.cost !== undefined) {
    bits.push(`cost ${usd(summary.total_cost ?? summary.cost)}`);
  }
  const meta = $("run-meta");
  meta.replaceChildren(status, " ", bits.join(" · "), " ",
    el("code", { class: "muted" }, run.id));
  if (run.status === "running") {
    meta.append(el("br"), "Still running: results and counts grow as trials finish. ",
      el("button", { type: "button", class: "secondary", onclick: () => location.reload() },
        "Reload"));
  }
}

function statusClass(status) {
  return status === "succeeded" ? "pass" : status === "running" || status === "queued" ? "" : "fail";
}

function renderCards(columns) {
  const box = $("cards");
  const details = $("summary");
  details.hidden = columns.length === 0;
  // On a phone the cards would fill the first screens: they start folded there.
  details.open = !window.matchMedia("(max-width: 640px)").matches;
  const title = $("summary-title");
  title.textContent = `Summary per prompt × provider (${columns.length})`;
  box.replaceChildren(...columns.map((col) => {
    const dl = el("dl", { class: "facts" });
    for (const [name, value] of M.cardFacts(col.stats)) {
      dl.append(el("dt", { class: "muted" }, name), el("dd", {}, value));
    }
    const head = el("div", { title: M.columnTitle(col), class: "wrap" },
      el("strong", {}, col.prompt_label), el("span", { class: "muted" }, ` × ${col.provider_label}`));
    return el("article", { class: "card", "aria-label": M.columnTitle(col) }, head,
      col.live ? el("div", { class: "muted" }, "counted so far (no summary yet)") : null, dl);
  }));
}

function renderExports(run) {
  const box = $("exports");
  box.firstElementChild.replaceChildren(el("span", { class: "muted" }, "Export:"),
    ...M.EXPORTS.map((x) => el("button", {
      type: "button", class: "secondary", "data-format": x.format,
      onclick: (e) => download(e.currentTarget, run, x),
    }, x.label)));
  box.hidden = false;
}

// A link cannot carry the bearer token: fetch the report and save it from a blob URL.
async function download(button, run, x) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = `${x.label}…`;
  try {
    const resp = await api(`${runPath}/report`, { query: { format: x.format }, raw: true });
    const url = URL.createObjectURL(await resp.blob());
    const a = el("a", { href: url, download: `run-${run.id.slice(0, 8)}.${x.ext}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    showBanner(`Export as ${x.label} failed: ${err.message || err}`);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

// -- filters ---------------------------------------------------------------------------------

function renderFilters(columns) {
  if (state.assertion) addFacets([{ type: state.assertion, failed: null }]);
  $("f-sort").append(...M.SORTS.map((s) => el("option", { value: s.value }, s.label)));
  $("f-limit").append(...M.PAGE_SIZES.map((n) => el("option", { value: String(n) }, String(n))));
  $("f-column").append(...columns.map((c) => el("option", { value: String(c.index) },
    M.columnTitle(c))));
  syncForm();
}

// The "failed assertion" choices: every assertion type of the run, with its failures.
function addFacets(facets) {
  const select = $("f-assertion");
  for (const f of facets) {
    const label = f.failed === null ? f.type : `${f.type} (${M.count(f.failed)} failed)`;
    const known = [...select.options].find((o) => o.value === f.type);
    if (known) known.textContent = label;
    else select.append(el("option", { value: f.type }, label));
  }
  select.value = state.assertion || "";
}

function syncForm() {
  $("f-status").value = state.status || "";
  $("f-assertion").value = state.assertion || "";
  $("f-q").value = state.q || "";
  $("f-sort").value = state.sort;
  $("f-column").value = state.column === null ? "" : String(state.column);
  $("f-column-box").hidden = state.sort.replace("-", "") === "case";
  $("f-limit").value = String(state.limit);
}

function formState() {
  const sort = $("f-sort").value;
  return M.withChange(state, {
    status: $("f-status").value || null,
    assertion: $("f-assertion").value || null,
    q: $("f-q").value.slice(0, M.MAX_TEXT),
    sort,
    column: $("f-column").value === "" ? null : Number($("f-column").value),
    limit: Number($("f-limit").value) || M.DEFAULT_LIMIT,
  });
}

function wire() {
  const form = $("filters");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    go(formState());
  });
  for (const id of ["f-status", "f-assertion", "f-sort", "f-column", "f-limit"]) {
    $(id).addEventListener("change", () => go(formState()));
  }
  let timer = 0;
  $("f-q").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => go(formState(), { replace: true }), 400); // one history entry
  });
  $("f-clear").addEventListener("click", () => go(M.withChange(state, {
    status: null, assertion: null, q: "" })));
  $("p-first").addEventListener("click", () => turn(-Infinity));
  $("p-prev").addEventListener("click", () => turn(-1));
  $("p-next").addEventListener("click", () => turn(1));
  $("p-last").addEventListener("click", () => turn(Infinity));
  $("p-page").addEventListener("change", () => {
    const offset = M.offsetForPage(Number($("p-page").value), state, page ? page.total : 0);
    go({ ...state, offset });
  });
  $("matrix").addEventListener("keydown", onKey);
  $("matrix").addEventListener("click", onClick);
  $("trial-close").addEventListener("click", () => $("trial").close());
  $("trial").addEventListener("close", () => {
    if (opener && opener.isConnected) opener.focus();
  });
  window.addEventListener("popstate", () => {
    state = M.readState(Object.fromEntries(new URLSearchParams(location.search)));
    syncForm();
    load({ push: false });
  });
}

function turn(delta, { focusRow = null } = {}) {
  if (!page) return false;
  const pages = Math.max(1, Math.ceil(page.total / state.limit));
  const current = Math.floor(state.offset / state.limit) + 1;
  const target = delta === Infinity ? pages : delta === -Infinity ? 1 : current + delta;
  if (target < 1 || target > pages || target === current) return false;
  go({ ...state, offset: (target - 1) * state.limit }, { focusRow });
  return true;
}

function go(next, { focusRow = null, replace = false } = {}) {
  state = next;
  syncForm();
  load({ push: true, focusRow, replace });
}

async function load({ push, focusRow = null, replace = false }) {
  if (push) {
    const qs = new URLSearchParams(M.stateToQuery(state)).toString();
    const url = location.pathname + (qs ? `?${qs}` : "");
    if (url !== location.pathname + location.search) {
      if (replace) history.replaceState(null, "", url);
      else history.pushState(null, "", url);
    }
  }
  const ticket = ++loads;
  $("matrix").setAttribute("aria-busy", "true");
  $("m-info").textContent = "Loading…";
  try {
    const answer = await fetchPage(state);
    showBanner(null);
    showPage(answer, focusRow);
  } catch (err) {
    if (err && err.name === "AbortError") return; // a newer request replaced this one
    $("m-info").textContent = "";
    showBanner(err && err.message ? err.message : String(err));
  } finally {
    if (ticket === loads) $("matrix").removeAttribute("aria-busy");
  }
}

// -- the matrix --------------------------------------------------------------------------------

function showPage(answer, focusRow = null) {
  const firstTime = page === null;
  page = answer;
  if (firstTime) renderCards(answer.columns);
  const info = M.pageInfo(answer);
  $("m-info").textContent = info.text;
  const table = $("matrix");
  const nothing = answer.rows.length === 0;
  $("m-scroll").hidden = nothing;
  $("pager").hidden = answer.total <= state.limit && state.offset === 0;
  renderEmpty(answer);
  table.setAttribute("aria-rowcount", String(answer.total + 1));
  table.setAttribute("aria-colcount", String(answer.columns.length + 1));
  renderHead(answer.columns);
  renderBody(answer);
  $("p-page").value = String(info.current);
  $("p-page").max = String(info.pages);
  $("p-pages").textContent = `of ${M.count(info.pages)}`;
  $("p-first").disabled = $("p-prev").disabled = info.first;
  $("p-next").disabled = $("p-last").disabled = info.last;
  if (!nothing) {
    const rows = answer.rows.length;
    const row = focusRow === "last" ? rows - 1 : focusRow === null ? Math.min(pos.row, rows - 1) : focusRow;
    setPos({ row, col: Math.min(pos.col, answer.columns.length - 1) }, focusRow !== null);
  }
  // For bench/ui_bench.py (and anyone's devtools): when rows first showed, and each page.
  if (firstTime) performance.mark("promptyard:matrix-rendered");
  performance.mark("promptyard:matrix-page");
}

function renderEmpty(answer) {
  const box = $("m-empty");
  clear(box);
  if (answer.rows.length) return;
  if (answer.cases === 0) {
    box.append(empty("This run has no results yet. Trials show here as they finish."));
  } else if (answer.total === 0) {
    const p = empty("No case matches these filters. ");
    p.append(el("button", { type: "button", class: "secondary",
      onclick: () => $("f-clear").click() }, "Clear filters"));
    box.append(p);
  } else {
    const p = empty("This page is past the last case. ");
    p.append(el("button", { type: "button", class: "secondary",
      onclick: () => turn(-Infinity) }, "Go to the first page"));
    box.append(p);
  }
}

function renderHead(columns) {
  const thead = $("matrix").tHead;
  const tr = el("tr", { "aria-rowindex": "1" }, el("th", { scope: "col" }, "Case"));
  for (const col of columns) {
    const th = el("th", { scope: "col", title: M.columnTitle(col), class: "col-head" },
      el("div", {}, col.prompt_label), el("div", { class: "muted" }, col.provider_label));
    tr.append(th);
  }
  thead.replaceChildren(tr);
}

function renderBody(answer) {
  const frag = document.createDocumentFragment();
  answer.rows.forEach((row, r) => {
    const head = el("th", { scope: "row", class: "row-head" },
      el("div", {}, M.rowLabel(row, answer.repeated)),
      row.vars ? el("div", { class: "muted hide-narrow" }, row.vars) : null);
    const tr = el("tr", { "data-row": String(r), "aria-rowindex": String(state.offset + r + 2) }, head);
    row.cells.forEach((cell, c) => tr.append(renderCell(cell, r, c)));
    frag.append(tr);
  });
  $("matrix").tBodies[0].replaceChildren(frag);
}

function renderCell(cell, r, c) {
  const m = M.cellModel(cell);
  // Under a filter, the cells that do not match it keep their text but lose their colour.
  const td = el("td", {
    role: "gridcell", tabindex: "-1", class: m.dim ? "other" : m.cls, "data-row": String(r),
    "data-col": String(c), "aria-label": m.dim ? `${m.label} (not matching the filter)` : m.label,
  });
  td.classList.add("cell");
  if (!m.empty) td.classList.add("openable");
  if (m.empty) {
    td.append(el("span", { class: "muted" }, m.text));
    return td;
  }
  const preview = el("div", { class: "out" }, m.text);
  td.append(
    el("span", { class: `tag ${m.status}` }, m.badge),
    el("span", {}, `score ${m.score}`),
    el("div", { class: "muted" }, m.meta),
    preview,
  );
  return td;
}

function cellAt(r, c) {
  return $("matrix").querySelector(`td[data-row="${r}"][data-col="${c}"]`);
}

function setPos(next, focus = true) {
  const old = cellAt(pos.row, pos.col);
  if (old) old.tabIndex = -1;
  pos = { row: next.row, col: next.col };
  const cell = cellAt(pos.row, pos.col);
  if (!cell) return;
  cell.tabIndex = 0;
  if (focus) cell.focus();
}

function onKey(e) {
  const td = e.target.closest && e.target.closest("td[data-row]");
  if (!td || !page) return;
  const here = { row: Number(td.dataset.row), col: Number(td.dataset.col) };
  if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    openCell(here.row, here.col);
    return;
  }
  const next = M.move(here, e.key, { rows: page.rows.length, cols: page.columns.length },
    { ctrl: e.ctrlKey || e.metaKey });
  if (!next) return;
  e.preventDefault();
  if (next.page) {
    pos = { row: here.row, col: next.col };
    turn(next.page, { focusRow: next.row });
    return;
  }
  setPos(next);
}

function onClick(e) {
  const td = e.target.closest && e.target.closest("td[data-row]");
  if (!td) return;
  const r = Number(td.dataset.row);
  const c = Number(td.dataset.col);
  setPos({ row: r, col: c });
  openCell(r, c);
}

// -- the trial dialog ----------------------------------------------------------------------------

async function openCell(r, c) {
  const row = page.rows[r];
  const cell = row && row.cells[c];
  if (!cell) return;
  opener = cellAt(r, c);
  const col = page.columns[c];
  const dialog = $("trial");
  $("trial-title").textContent = `${M.rowLabel(row, page.repeated)} · ${M.columnTitle(col)}`;
  const body = $("trial-body");
  body.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  if (!dialog.open) dialog.showModal();
  try {
    const trial = await api(`${runPath}/trials/${cell.index}`);
    body.replaceChildren(...trialView(trial));
  } catch (err) {
    body.replaceChildren(el("p", { class: "fail" }, `Could not load this result: ${err.message || err}`));
  }
}

function section(title, ...content) {
  return el("section", {}, el("h3", { class: "detail-head" }, title), ...content);
}

function asText(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function trialView(t) {
  const m = M.cellModel({ status: t.status, score: t.score, cost: t.cost, latency_ms: t.latencyMs,
    cached: t.response && t.response.cached });
  const tokens = t.response && t.response.tokenUsage ? t.response.tokenUsage.total : null;
  const out = [
    el("p", {}, el("span", { class: `tag ${m.status}` }, m.badge), ` score ${m.score} · ${m.meta}` +
      (tokens !== null ? ` · ${M.count(tokens)} tokens` : "") + ` · trial #${t.index}`),
  ];
  if (t.error) out.push(section("Error", el("pre", { class: "error" }, t.error)));
  if (t.response) out.push(section("Output", el("pre", {}, asText(t.response.output))));
  const asserts = M.assertionList(t.gradingResult);
  if (asserts.length) {
    const ul = el("ul", { class: "assertions" });
    for (const a of asserts) {
      const li = el("li", {},
        el("span", { class: a.pass ? "pass" : "fail" }, a.pass ? "✓ PASS " : "✗ FAIL "),
        el("code", {}, a.type),
        a.value !== null ? el("span", { class: "muted" }, ` ${truncate(asText(a.value), 200)}`) : null,
        ` (score ${typeof a.score === "number" ? a.score.toFixed(2) : "–"})`,
        a.reason ? el("div", {}, a.reason) : null);
      li.style.marginLeft = `${a.depth * 1.25}rem`; // nesting depth: the one style set here
      ul.append(li);
    }
    out.push(section("Assertions", ul));
  } else if (t.gradingResult && t.gradingResult.reason) {
    out.push(section("Verdict", el("p", {}, t.gradingResult.reason)));
  }
  out.push(section("Rendered prompt", el("pre", {}, asText(t.prompt && t.prompt.raw))));
  if (t.vars && Object.keys(t.vars).length) out.push(section("Vars", el("pre", {}, asText(t.vars))));
  if (t.kpis) out.push(section("KPIs", el("pre", {}, asText(t.kpis))));
  const raw = el("details", {}, el("summary", {}, "Raw response"),
    el("pre", {}, t.raw === null || t.raw === undefined ? "(none stored)" : asText(t.raw)));
  out.push(raw);
  return out;
}
