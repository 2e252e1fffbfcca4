// A dataset: its rows (vars, expected values, assertions, splits), filtered by split and by
// text, a page at a time; and an upload of a CSV/JSONL/JSON/YAML file as a new version (or a
// new dataset), showing the server's row-level errors. Values are untrusted: text only.
import { api, headers, pageData } from "../api.js";
import { clear, el, empty, guarded, showBanner } from "../dom.js";
import { truncate, when } from "../format.js";

const { params, query } = pageData();
const name = params.name;
const project = query.project || undefined;
const base = `/datasets/${encodeURIComponent(name)}`;
const app = document.getElementById("app");
const SIZES = [25, 50, 100];
const CHUNK = 1000; // rows per request (the API's maximum page)
const SEARCH_CAP = 20000; // rows read for a text search: the API has no row search

const state = {
  dataset: null, versions: [],
  version: Number(query.version) || null, split: query.split || "", q: query.q || "",
  page: Math.max(1, Number(query.page) || 1),
  size: SIZES.includes(Number(query.size)) ? Number(query.size) : SIZES[0],
  scanned: null, // {key, rows, capped} of the last text search
};

// Filters and page go in the URL, so a reload or a shared link shows the same rows.
function saveUrl() {
  const url = new URL(location.href);
  const keep = { version: state.version, split: state.split, q: state.q,
    page: state.page > 1 ? state.page : null, size: state.size !== SIZES[0] ? state.size : null };
  for (const [k, v] of Object.entries(keep)) {
    if (v) url.searchParams.set(k, String(v));
    else url.searchParams.delete(k);
  }
  history.replaceState(null, "", url);
}

function rowText(r) {
  return JSON.stringify([r.description, r.vars, r.expected, r.assert, r.metadata]).toLowerCase();
}

async function allRows(version, split) {
  const key = `${version}|${split}`;
  if (state.scanned?.key === key) return state.scanned;
  const rows = [];
  let total = Infinity;
  while (rows.length < Math.min(total, SEARCH_CAP)) {
    const page = await api(`${base}/rows`, { query: { project, version, split,
      limit: CHUNK, offset: rows.length } });
    total = page.total;
    rows.push(...page.items);
    if (!page.items.length) break;
  }
  state.scanned = { key, rows, capped: total > rows.length ? total : 0 };
  return state.scanned;
}

// One page of rows: from the API, or (with a search) from the rows read and filtered here.
async function fetchPage() {
  const version = state.version || undefined;
  const split = state.split || undefined;
  const offset = (state.page - 1) * state.size;
  if (!state.q.trim()) {
    const page = await api(`${base}/rows`, { query: { project, version, split,
      limit: state.size, offset } });
    return { items: page.items, total: page.total, capped: 0 };
  }
  const needle = state.q.trim().toLowerCase();
  const { rows, capped } = await allRows(version, split);
  const hits = rows.filter((r) => rowText(r).includes(needle));
  return { items: hits.slice(offset, offset + state.size), total: hits.length, capped };
}

function valueText(v) {
  return v === null || v === undefined ? "–" : truncate(v, 200);
}

function rowTr(r) {
  const vars = Object.entries(r.vars || {}).map(([k, v]) =>
    el("div", {}, el("code", {}, k), ": ", valueText(v)));
  const checks = (r.assert || []).map((a) =>
    el("div", {}, el("code", {}, a.type), a.value !== undefined ? ` ${valueText(a.value)}` : ""));
  return el("tr", { dataset: { idx: r.idx } },
    el("td", {}, String(r.idx + 1)),
    el("td", {}, vars.length ? vars : el("span", { class: "muted" }, "no vars")),
    el("td", {}, valueText(r.expected)),
    el("td", {}, checks.length ? checks : el("span", { class: "muted" }, "–")),
    el("td", {}, r.split ? el("span", { class: "tag" }, r.split) : el("span", { class: "muted" },
      "–")),
    el("td", { class: "hide-narrow" }, r.description || ""));
}

async function renderRows() {
  saveUrl();
  const out = document.getElementById("rows-out");
  const page = await fetchPage();
  const pages = Math.max(1, Math.ceil(page.total / state.size));
  if (state.page > pages) {
    state.page = pages;
    return renderRows();
  }
  const first = page.total ? (state.page - 1) * state.size + 1 : 0;
  const go = (delta) => () => { state.page += delta; guarded(renderRows); };
  const filtered = state.q.trim() || state.split;
  clear(out).append(
    el("p", { id: "row-count", class: "muted" },
      page.total ? `Rows ${first}–${first + page.items.length - 1} of ${page.total}` : "",
      page.capped ? ` (searched the first ${SEARCH_CAP} of ${page.capped} rows)` : ""),
    page.items.length
      ? el("div", { class: "scroll-x" }, el("table", { id: "rows" },
        el("thead", {}, el("tr", {}, ["#", "Vars", "Expected", "Assertions", "Split"].map((h) =>
          el("th", {}, h)), el("th", { class: "hide-narrow" }, "Description"))),
        el("tbody", {}, page.items.map(rowTr))))
      : empty(filtered ? "No rows match these filters." : "This dataset has no rows yet: " +
        "upload a file above."),
    el("div", { class: "row", id: "pager" },
      el("button", { type: "button", id: "prev", class: "secondary", disabled: state.page <= 1,
        onclick: go(-1) }, "← Previous"),
      el("span", { id: "page-of" }, `Page ${state.page} of ${pages}`),
      el("button", { type: "button", id: "next", class: "secondary",
        disabled: state.page >= pages, onclick: go(1) }, "Next →")));
}

function filters() {
  const splits = state.dataset.splits || {};
  const select = (id, label, options, value, onchange) => [
    el("label", { for: id }, label),
    el("select", { id, onchange }, options.map(([v, text]) =>
      el("option", { value: v, selected: String(v) === String(value) }, text)))];
  const search = el("input", { type: "search", id: "row-search", value: state.q,
    placeholder: "text in vars, expected…", "aria-label": "Search rows" });
  let timer;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.q = search.value; state.page = 1; guarded(renderRows); }, 250);
  });
  const set = (key, cast = String) => (e) => {
    state[key] = cast(e.target.value);
    state.page = 1;
    guarded(renderRows);
  };
  const versions = state.versions.map((v) => [v.version, `v${v.version} (${v.row_count} rows)`]);
  return el("form", { class: "row", id: "filters", onsubmit: (e) => e.preventDefault() },
    select("split", "Split", [["", "all"], ...["train", "val", "test"].map((s) =>
      [s, `${s} (${splits[s] || 0})`])], state.split, set("split")),
    el("label", { for: "row-search" }, "Search"), search,
    versions.length > 1 ? select("version", "Version", versions,
      state.version || state.dataset.latest_version, set("version", Number)) : null,
    select("size", "Per page", SIZES.map((n) => [n, String(n)]), state.size, set("size", Number)));
}

function showUploadError(out, status, body) {
  const detail = Array.isArray(body.detail)
    ? body.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ")
    : body.detail || `upload failed (HTTP ${status})`;
  const rows = Array.isArray(body.errors) ? body.errors : [];
  // el() skips a null child where Node.append would print "null".
  clear(out).append(el("div", {}, el("p", { class: "fail", id: "upload-detail" }, String(detail)),
    rows.length ? el("div", { class: "scroll-x" }, el("table", { id: "upload-errors" },
      el("thead", {}, el("tr", {}, el("th", {}, "Row"), el("th", {}, "Field"),
        el("th", {}, "Problem"))),
      el("tbody", {}, rows.map((e) => el("tr", {}, el("td", {}, String(e.row)),
        el("td", {}, String(e.field)), el("td", {}, String(e.message))))))) : null));
}

// Our own fetch, not api(): a failed upload's answer carries `errors` (one per bad row) next
// to `detail`, and the user needs to see them all.
async function upload(form, out) {
  const file = form.querySelector("#upload-file").files[0];
  const target = form.querySelector("#upload-name").value.trim();
  if (!file || !target) {
    clear(out).append(el("p", { class: "fail" }, "Choose a file and a dataset name."));
    return;
  }
  const body = new FormData();
  body.append("file", file);
  body.append("name", target);
  if (project) body.append("project", project);
  clear(out).append(el("p", { class: "muted" }, `Uploading ${file.name}…`));
  const resp = await fetch("/api/datasets/upload", { method: "POST", headers: headers(), body });
  if (resp.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  const answer = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    showUploadError(out, resp.status, answer);
    return;
  }
  clear(out);
  if (answer.name !== name) {
    const q = answer.project ? `?project=${encodeURIComponent(answer.project)}` : "";
    out.append(el("p", { class: "pass" }, "Created ",
      el("a", { href: `/datasets/${encodeURIComponent(answer.name)}${q}` }, answer.name),
      ` with ${answer.row_count} rows.`));
    return;
  }
  showBanner(`Uploaded ${file.name}: version ${answer.latest_version}, ${answer.row_count} rows.`,
    { ok: true });
  Object.assign(state, { version: null, page: 1, scanned: null });
  await render();
}

function uploadForm() {
  const out = el("div", { id: "upload-result", "aria-live": "polite" });
  const form = el("form", { id: "upload", onsubmit: (e) => {
    e.preventDefault();
    guarded(() => upload(form, out));
  } },
  el("div", { class: "row" },
    el("div", {}, el("label", { for: "upload-file" }, "File (.csv, .jsonl, .json, .yaml)"),
      el("input", { type: "file", id: "upload-file", accept: ".csv,.jsonl,.json,.yaml,.yml" })),
    el("div", {}, el("label", { for: "upload-name" }, "Dataset"),
      el("input", { id: "upload-name", value: name, size: 20 })),
    el("button", { type: "submit", id: "upload-go" }, "Upload")),
  el("p", { class: "muted" }, "This dataset's name adds a new version; another name makes a " +
    "new dataset. CSV columns are variables; __expected and __split are special."));
  return el("section", { id: "upload-section" }, el("h2", {}, "Upload"), form, out);
}

async function render() {
  const [dataset, versions] = await Promise.all([api(base, { query: { project } }),
    api(`${base}/versions`, { query: { project } })]);
  Object.assign(state, { dataset, versions });
  document.getElementById("title").textContent = dataset.name;
  document.title = `${dataset.name} · Promptyard`;
  const facts = [`project: ${dataset.project ?? "none"}`, `v${dataset.latest_version}`,
    `${dataset.row_count} rows`, `updated ${when(dataset.updated_at)}`];
  clear(app).append(
    el("p", { class: "muted", id: "facts" }, dataset.description ? `${dataset.description} · ` : "",
      facts.join(" · ")),
    el("p", {}, Object.entries(dataset.splits || {}).map(([s, n]) =>
      el("span", { class: "tag" }, `${s}: ${n}`)), (dataset.tags || []).map((t) =>
      el("span", { class: "tag muted" }, `#${t}`))),
    uploadForm(),
    el("section", { id: "rows-section" }, el("h2", {}, "Rows"), filters(),
      el("div", { id: "rows-out" })));
  await renderRows();
}

guarded(async () => {
  try {
    await render();
  } catch (err) {
    if (!state.dataset) clear(app).append(empty(`Could not load dataset “${name}”.`));
    throw err; // guarded() shows why in the banner
  }
});
