// /jobs: every job with its status, newest first; filter by kind and status, page through,
// and refresh by itself while a job on the page is queued or running.
import { api, pageData } from "../api.js";
import { clear, el, empty, guarded } from "../dom.js";
import { when } from "../format.js";

const KINDS = ["", "evaluate", "optimize", "run"];
const STATUSES = ["", "queued", "running", "succeeded", "failed", "cancelled", "interrupted"];
const LIVE = new Set(["queued", "running"]);
const REFRESH_MS = 2000;
const STATUS_CLASS = { succeeded: "pass", failed: "fail", cancelled: "error", interrupted: "error" };

const app = document.getElementById("app");
const query = pageData().query;
const state = {
  kind: KINDS.includes(query.kind) ? query.kind : "",
  status: STATUSES.includes(query.status) ? query.status : "",
  limit: Math.min(500, Math.max(1, Number.parseInt(query.limit, 10) || 25)),
  offset: Math.max(0, Number.parseInt(query.offset, 10) || 0),
};
let timer = null;

function statusTag(status) {
  return el("span", { class: `tag status ${STATUS_CLASS[status] || ""}`, "data-status": status }, status);
}

function duration(job) {
  if (!job.started_at) return "–";
  const end = job.finished_at ? new Date(job.finished_at) : new Date();
  const s = Math.max(0, (end - new Date(job.started_at)) / 1000);
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function select(id, label, values, current) {
  const control = el("select", { id, name: id },
    values.map((v) => el("option", { value: v, selected: v === current }, v || "all")));
  control.addEventListener("change", () => {
    state[id] = control.value;
    state.offset = 0;
    guarded(load);
  });
  return el("div", {}, el("label", { for: id }, label), control);
}

function row(job) {
  const page = `/jobs/${encodeURIComponent(job.id)}`;
  const links = [el("a", { href: page }, "live view")];
  if (job.kind === "optimize") {
    links.push(" · ", el("a", { href: `/optimizations/${encodeURIComponent(job.id)}` }, "optimization"));
  }
  if (job.run_id) links.push(" · ", el("a", { href: `/runs/${encodeURIComponent(job.run_id)}` }, "run"));
  return el("tr", { dataset: { job: job.id, status: job.status } },
    el("td", {}, el("a", { href: page }, el("code", {}, job.id.slice(0, 8)))),
    el("td", {}, job.kind),
    el("td", {}, statusTag(job.status)),
    el("td", { class: "hide-narrow" }, job.project || "–"),
    el("td", {}, when(job.created_at)),
    el("td", { class: "hide-narrow" }, duration(job)),
    el("td", { class: "error" }, job.error ? job.error.slice(0, 160) : ""),
    el("td", {}, links));
}

function pager(total) {
  const first = total ? state.offset + 1 : 0;
  const last = Math.min(total, state.offset + state.limit);
  const go = (offset) => () => { state.offset = offset; guarded(load); };
  return el("div", { class: "row pager" },
    el("button", { type: "button", class: "secondary", id: "prev", disabled: state.offset === 0,
                   onclick: go(Math.max(0, state.offset - state.limit)) }, "Previous"),
    el("span", { id: "range" }, `${first}–${last} of ${total}`),
    el("button", { type: "button", class: "secondary", id: "next", disabled: last >= total,
                   onclick: go(state.offset + state.limit) }, "Next"));
}

function keepInUrl() {
  const url = new URL(location.href);
  for (const [k, v] of Object.entries(state)) {
    const dflt = k === "limit" ? 25 : k === "offset" ? 0 : "";
    if (v === dflt) url.searchParams.delete(k);
    else url.searchParams.set(k, String(v));
  }
  history.replaceState(null, "", url);
}

// The filters are built once (a refresh must not take the focus from them); the table and
// the pager are redrawn on every load.
const results = el("div", { id: "results" });
clear(app).append(
  el("div", { class: "row" },
    select("kind", "Kind", KINDS, state.kind),
    select("status", "Status", STATUSES, state.status),
    el("a", { class: "button", href: "/jobs/new" }, "New job")),
  results);

async function load() {
  clearTimeout(timer);
  const page = await api("/jobs", { query: { kind: state.kind, status: state.status,
                                             limit: state.limit, offset: state.offset } });
  keepInUrl();
  const live = page.items.some((j) => LIVE.has(j.status));
  clear(results).append(
    el("p", { class: "muted", id: "refresh-note" },
      live ? "A job is still going: this list refreshes itself." : ""),
    page.items.length
      ? el("div", { class: "scroll-x" }, el("table", { id: "jobs" },
        el("thead", {}, el("tr", {}, ["Job", "Kind", "Status", "Project", "Created", "Took", "Error", ""]
          .map((h, i) => el("th", { class: [3, 5].includes(i) ? "hide-narrow" : undefined }, h)))),
        el("tbody", {}, page.items.map(row))))
      : empty(state.kind || state.status ? "No jobs match these filters." : "No jobs yet: start one."),
    pager(page.total));
  if (live) timer = setTimeout(() => guarded(load), REFRESH_MS);
}

guarded(load);
