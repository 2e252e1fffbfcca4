// Home: every project with its prompts, datasets and latest runs, and one search box. Prompts
// and datasets are searched by the API (?search=); runs have no search parameter, so the
// latest runs are filtered here. The search is kept in the URL (?q=) so a reload keeps it.
import { api, pageData } from "../api.js";
import { clear, el, empty, guarded } from "../dom.js";
import { pct, truncate, usd, when } from "../format.js";

const RUNS = 100; // latest runs read for the page; each project shows a few of them
const RUNS_SHOWN = 5;
const NO_PROJECT = "\u0000"; // the key of entries without a project (no real name has NUL)

const app = document.getElementById("app");
let seq = 0; // answers to an older search are dropped

function href(kind, name, project) {
  const q = project ? `?project=${encodeURIComponent(project)}` : "";
  return `/${kind}/${encodeURIComponent(name)}${q}`;
}

function runMatches(run, needle) {
  if (!needle) return true;
  const labels = (run.prompts || []).map((p) => p.label).join(" ");
  const text = [run.id, run.description, run.status, run.project, labels].join(" ");
  return text.toLowerCase().includes(needle);
}

function group(projects, prompts, datasets, runs) {
  const by = new Map();
  const entry = (name) => {
    const key = name ?? NO_PROJECT;
    if (!by.has(key)) by.set(key, { name, description: "", prompts: [], datasets: [], runs: [] });
    return by.get(key);
  };
  for (const p of projects) if (p.name !== null) entry(p.name).description = p.description || "";
  for (const p of prompts) entry(p.project).prompts.push(p);
  for (const d of datasets) entry(d.project).datasets.push(d);
  for (const r of runs) entry(r.project).runs.push(r);
  return [...by.values()].sort((a, b) =>
    a.name === b.name ? 0 : a.name === null ? 1 : b.name === null ? -1 : a.name < b.name ? -1 : 1,
  );
}

// A card per kind; `scroll-x` makes it a scroll container, so one long unbroken name cannot
// widen the grid (and the page) on a phone.
function card(kind, title, items, none) {
  return el("div", { class: "card scroll-x", dataset: { kind } }, el("h3", {}, title),
    items.length ? el("ul", {}, items) : empty(none));
}

function promptItem(p) {
  const labels = Object.entries(p.labels || {}).map(([l, v]) => el("span", { class: "tag" },
    `${l} → v${v}`));
  return el("li", {}, el("a", { href: href("prompts", p.name, p.project) }, p.name),
    el("span", { class: "muted" }, ` v${p.latest_version} `), labels,
    (p.tags || []).map((t) => el("span", { class: "tag muted" }, `#${t}`)));
}

function datasetItem(d) {
  const splits = Object.entries(d.splits || {}).map(([s, n]) => `${s} ${n}`).join(", ");
  return el("li", {}, el("a", { href: href("datasets", d.name, d.project) }, d.name),
    el("span", { class: "muted" }, ` ${d.row_count} rows${splits ? ` (${splits})` : ""}`));
}

function runItem(r) {
  const s = r.summary || {};
  const status = r.status === "succeeded" ? "pass" : r.status === "failed" ? "fail" : "muted";
  return el("li", {}, el("a", { href: `/runs/${encodeURIComponent(r.id)}` },
    truncate(r.description || r.id.slice(0, 8), 80)),
    el("span", { class: status }, ` ${r.status}`),
    el("span", { class: "muted" }, ` ${pct(s.pass_rate)} · ${usd(s.total_cost ?? s.cost)} · ${when(r.created_at)}`));
}

function section(p) {
  const title = p.name === null ? "Without a project" : p.name;
  return el("section", { class: "project", dataset: { project: p.name ?? "" } },
    el("h2", {}, title), p.description ? el("p", { class: "muted" }, p.description) : null,
    el("div", { class: "cards" },
      card("prompts", `Prompts (${p.prompts.length})`, p.prompts.map(promptItem), "No prompts."),
      card("datasets", `Datasets (${p.datasets.length})`, p.datasets.map(datasetItem),
        "No datasets."),
      card("runs", "Latest runs", p.runs.slice(0, RUNS_SHOWN).map(runItem), "No runs yet.")));
}

async function load(q) {
  const mine = ++seq;
  const search = q.trim();
  const [catalog, prompts, datasets, runs] = await Promise.all([
    api("/catalog"),
    api("/prompts", { query: { search, limit: 500 } }),
    api("/datasets", { query: { search, limit: 500 } }),
    api("/runs", { query: { limit: RUNS } }),
  ]);
  if (mine !== seq) return;
  const needle = search.toLowerCase();
  const shownRuns = runs.items.filter((r) => runMatches(r, needle));
  let groups = group(catalog.projects, prompts.items, datasets.items, shownRuns);
  // While searching, only projects with a match are shown (a project's own name matches too).
  if (needle) {
    groups = groups.filter((g) => g.prompts.length || g.datasets.length || g.runs.length ||
      (g.name || "").toLowerCase().includes(needle));
  }
  const results = document.getElementById("results");
  clear(results);
  if (!groups.length) {
    results.append(needle
      ? empty(`Nothing matches “${search}”: no project, prompt, dataset or recent run.`)
      : el("div", { class: "empty" },
        el("p", {}, "No projects, prompts or datasets yet."),
        el("p", {}, "Push a project (", el("code", {}, "promptyard push DIR"),
          "), create a prompt or dataset over the API, or start a ",
          el("a", { href: "/jobs/new" }, "new job"), ".")));
    return;
  }
  results.append(...groups.map(section));
}

guarded(async () => {
  const q = pageData().query.q || "";
  const input = el("input", { type: "search", id: "search", name: "q", value: q,
    placeholder: "Search prompts, datasets, runs", "aria-label": "Search", autocomplete: "off",
    size: 40 });
  clear(app).append(
    el("form", { class: "row", role: "search", onsubmit: (e) => e.preventDefault() }, input),
    el("div", { id: "results", "aria-live": "polite" }, el("p", { class: "muted" }, "Loading…")),
  );
  let timer;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const url = new URL(location.href);
      if (input.value.trim()) url.searchParams.set("q", input.value.trim());
      else url.searchParams.delete("q");
      history.replaceState(null, "", url);
      guarded(() => load(input.value));
    }, 200);
  });
  await load(q);
});
