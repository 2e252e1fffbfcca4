// A prompt: its labels (deploy = move a label to a version, confirmed first), tags, versions
// with their templates, a diff between any two versions, and its runs over time as a chart.
// Prompt text is untrusted: it is only ever set as text.
import { api, pageData } from "../api.js";
import { lineChart } from "../chart.js";
import { clear, el, empty, guarded, showBanner } from "../dom.js";
import { pct, truncate, usd, when } from "../format.js";

const { params, query } = pageData();
const name = params.name;
const scope = { project: query.project || undefined };
const base = `/prompts/${encodeURIComponent(name)}`;
const app = document.getElementById("app");
const LABEL = /^[a-z0-9][a-z0-9_-]{0,39}$/; // as the server checks labels

const state = { prompt: null, versions: [] };

function templateText(t) {
  return typeof t === "string" ? t : JSON.stringify(t, null, 2);
}

function box(id, title, ...children) {
  return el("section", { id }, el("h2", {}, title), ...children);
}

function renderHead() {
  const p = state.prompt;
  document.getElementById("title").textContent = p.name;
  document.title = `${p.name} · Promptyard`;
  const facts = [["project", p.project ?? "none"], ["latest", `v${p.latest_version}`],
    ["team", p.team], ["group", p.group], ["updated", when(p.updated_at)]];
  return el("p", { class: "muted", id: "facts" }, p.description ? `${p.description} · ` : "",
    facts.filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`).join(" · "));
}

function renderLabels(node) {
  const labels = Object.entries(state.prompt.labels || {});
  clear(node).append(labels.length
    ? el("p", {}, labels.map(([l, v]) => el("span", { class: "tag", dataset: { label: l } },
      `${l} → v${v}`)))
    : empty("No labels yet: deploy a version (Versions, below) to point a label such as " +
      "production at it."));
}

function renderTags(node) {
  const tags = state.prompt.tags || [];
  const input = el("input", { id: "tags-input", value: tags.join(", "), "aria-label": "Tags",
    placeholder: "comma, separated, tags" });
  const save = async (e) => {
    e.preventDefault();
    const next = input.value.split(",").map((t) => t.trim()).filter(Boolean);
    state.prompt = await api(`${base}/tags`, { method: "PUT", query: scope, body: { tags: next } });
    showBanner("Tags saved.", { ok: true });
    renderTags(node);
  };
  clear(node).append(
    el("p", { id: "tag-list" }, tags.length ? tags.map((t) => el("span", { class: "tag" }, t))
      : el("span", { class: "muted" }, "No tags.")),
    el("form", { class: "row", onsubmit: (e) => guarded(() => save(e)) }, input,
      el("button", { type: "submit", id: "tags-save" }, "Save tags")));
}

async function deploy(version) {
  const label = document.getElementById("deploy-label").value.trim();
  if (!LABEL.test(label) || label === "latest") {
    showBanner(`"${label}" is not a label: lower-case letters, digits, "_" and "-" (not latest).`);
    return;
  }
  if (!confirm(`Deploy ${name} version ${version} to "${label}"?`)) return;
  state.prompt = await api(`${base}/labels/${encodeURIComponent(label)}`, { method: "PUT",
    query: scope, body: { version } });
  showBanner(`Deployed version ${version} to ${label}.`, { ok: true });
  renderLabels(document.getElementById("labels-body"));
  renderVersions(document.getElementById("versions-body"));
}

function renderVersions(node) {
  const at = {};
  for (const [l, v] of Object.entries(state.prompt.labels || {})) (at[v] ||= []).push(l);
  const known = new Set(["production", "staging", ...Object.keys(state.prompt.labels || {})]);
  const current = document.getElementById("deploy-label")?.value || "production";
  const rows = state.versions.map((v) => el("tr", { dataset: { version: v.version } },
    el("td", {}, `v${v.version}`), el("td", {}, when(v.created_at)),
    el("td", {}, truncate(v.message || "", 80)),
    el("td", {}, (at[v.version] || []).map((l) => el("span", { class: "tag" }, l))),
    el("td", {},
      el("button", { type: "button", class: "secondary", onclick: () => showTemplate(v) },
        "Show"), " ",
      el("button", { type: "button", class: "deploy",
        onclick: () => guarded(() => deploy(v.version)) }, "Deploy"))));
  clear(node).append(
    el("div", { class: "row" },
      el("label", { for: "deploy-label" }, "Deploy to label"),
      el("input", { id: "deploy-label", list: "known-labels", value: current, size: 14 }),
      el("datalist", { id: "known-labels" }, [...known].map((l) => el("option", { value: l })))),
    el("div", { class: "scroll-x" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Version", "Created", "Message", "Labels", ""].map((h) =>
        el("th", {}, h)))),
      el("tbody", {}, rows))));
}

function showTemplate(v) {
  const node = document.getElementById("template-body");
  clear(node).append(el("p", { class: "muted" }, `Version ${v.version}, ${when(v.created_at)}`),
    el("pre", { id: "template-text" }, templateText(v.template)));
}

function diffLines(text) {
  return text.split("\n").filter((line, i, all) => line || i < all.length - 1).map((line) => {
    const kind = line.startsWith("+++") || line.startsWith("---") ? "muted"
      : line.startsWith("+") ? "add" : line.startsWith("-") ? "del"
      : line.startsWith("@@") ? "muted" : "";
    return el("div", { class: kind }, line || " ");
  });
}

async function showDiff() {
  const a = document.getElementById("diff-a").value;
  const b = document.getElementById("diff-b").value;
  const out = document.getElementById("diff-out");
  const d = await api(`${base}/diff`, { query: { ...scope, a, b } });
  const lines = d.diff ? diffLines(d.diff) : [];
  const added = lines.filter((n) => n.className === "add").length;
  const removed = lines.filter((n) => n.className === "del").length;
  clear(out).append(
    el("p", { class: "muted", id: "diff-summary" }, `v${a} → v${b}: +${added} −${removed} lines` +
      (d.config_changed ? "; the config changed too" : "")),
    lines.length ? el("pre", { class: "diff" }, lines) : empty("The templates are identical."));
}

function renderDiff(node) {
  if (state.versions.length < 2) {
    clear(node).append(empty("Only one version: nothing to compare yet."));
    return;
  }
  const pick = (id, chosen) => el("select", { id }, state.versions.map((v) =>
    el("option", { value: v.version, selected: v.version === chosen }, `v${v.version}`)));
  const [newest, previous] = state.versions;
  clear(node).append(
    el("form", { class: "row", onsubmit: (e) => { e.preventDefault(); guarded(showDiff); } },
      el("label", { for: "diff-a" }, "From"), pick("diff-a", previous.version),
      el("label", { for: "diff-b" }, "to"), pick("diff-b", newest.version),
      el("button", { type: "submit", id: "diff-show" }, "Show diff")),
    el("div", { id: "diff-out" }));
  return showDiff();
}

function renderRuns(node, page) {
  if (!page.items.length) {
    clear(node).append(empty("No runs of this prompt yet."), el("p", {},
      el("a", { href: "/jobs/new" }, "Start a job"), " to evaluate a version on a dataset."));
    return;
  }
  const runs = [...page.items].reverse(); // oldest first, left to right
  const width = Math.max(300, Math.min(720, node.clientWidth || 720));
  const chart = lineChart({
    label: `Pass rate and cost of the last ${runs.length} runs of ${name}`,
    labels: runs.map((r) => `v${r.versions.join(",v")} ${new Date(r.created_at).toLocaleDateString()}`),
    width,
    series: [
      { name: "pass rate", values: runs.map((r) => r.pass_rate), format: (v) => pct(v, 0),
        domain: [0, 1], color: "#2f9e44" },
      { name: "cost", values: runs.map((r) => r.cost), format: usd, axis: "right",
        color: "#e8590c", dash: "5 4" },
    ],
  });
  const rows = page.items.map((r) => el("tr", {},
    el("td", {}, el("a", { href: `/runs/${encodeURIComponent(r.id)}` }, truncate(r.description || r.id, 60))),
    el("td", {}, r.versions.map((v) => `v${v}`).join(", ")), el("td", {}, r.status),
    el("td", {}, pct(r.pass_rate)), el("td", {}, usd(r.cost)),
    el("td", { class: "hide-narrow" }, when(r.created_at))));
  const more = page.total > page.items.length
    ? [el("p", { class: "muted" }, `The latest ${page.items.length} of ${page.total} runs.`)] : [];
  clear(node).append(chart, ...more,
    el("div", { class: "scroll-x" }, el("table", { id: "runs-table" },
      el("thead", {}, el("tr", {}, ["Run", "Version", "Status", "Pass rate", "Cost"].map((h) =>
        el("th", {}, h)), el("th", { class: "hide-narrow" }, "When"))),
      el("tbody", {}, rows))));
}

async function load() {
  const [prompt, versions, runs] = await Promise.all([
    api(base, { query: scope }),
    api(`${base}/versions`, { query: scope }),
    api(`${base}/runs`, { query: { ...scope, limit: 100 } }),
  ]);
  Object.assign(state, { prompt, versions });
  const parts = {
    labels: el("div", { id: "labels-body" }), tags: el("div", { id: "tags-body" }),
    versions: el("div", { id: "versions-body" }), template: el("div", { id: "template-body" }),
    diff: el("div", { id: "diff-body" }), runs: el("div", { id: "runs-body" }),
  };
  clear(app).append(renderHead(),
    box("labels", "Labels", parts.labels), box("tags", "Tags", parts.tags),
    box("runs", "Runs over time", parts.runs), box("versions", "Versions", parts.versions),
    box("template", "Template", parts.template), box("diff", "Diff", parts.diff));
  renderLabels(parts.labels);
  renderTags(parts.tags);
  renderVersions(parts.versions);
  if (versions.length) showTemplate(versions[0]);
  renderRuns(parts.runs, runs);
  await renderDiff(parts.diff);
}

guarded(async () => {
  try {
    await load();
  } catch (err) {
    if (!state.prompt) clear(app).append(empty(`Could not load prompt “${name}”.`));
    throw err; // guarded() shows why in the banner
  }
});
