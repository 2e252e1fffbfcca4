// /compare?runs=ID1,ID2[,ID3...]&baseline=ID1: pick runs, read the paired test of each run
// against the baseline in words, and see every case side by side with the flips marked.
// The sentences come from GET /api/compare (all cases); the table from each run's trials,
// the first CASE_LIMIT of each (GET /api/compare has no per-case listing with outputs).
import { api, pageData } from "../api.js";
import { cellChange, runLetter, scoreWords, trialStatus, verdict } from "../compare_words.js";
import { clear, el, empty, guarded } from "../dom.js";
import { num, pct, truncate, when } from "../format.js";

const RECENT = 50; // runs offered by the picker
const CASE_LIMIT = 500; // trials per run shown in the table
const MARK = { improved: "▲ improved", regressed: "▼ regressed" };

const app = document.getElementById("app");
const query = pageData().query;
const wanted = [...new Set((query.runs || "").split(",").map((s) => s.trim()).filter(Boolean))];

function runName(run) {
  return run.description || `run ${run.id.slice(0, 8)}`;
}

function runLine(run) {
  const rate = run.summary ? pct(run.summary.pass_rate) : "–";
  const parts = [runName(run), when(run.created_at), `${rate} pass`, `${run.trial_count} trials`];
  return [...parts, run.id.slice(0, 8)].join(" · ");
}

// The picker: check runs, choose the baseline among them, Compare reloads with the choice.
function picker(recent, chosen, baseline) {
  const offered = [...chosen, ...recent.filter((r) => !chosen.some((c) => c.id === r.id))];
  const boxes = offered.map((run) =>
    el("input", { type: "checkbox", name: "run", value: run.id, checked: chosen.includes(run) }),
  );
  const select = el("select", { id: "baseline", name: "baseline" });
  const go = el("button", { type: "submit" }, "Compare");
  const fill = () => {
    const keep = select.value || baseline;
    const checked = boxes.filter((b) => b.checked).length;
    go.disabled = checked < 2;
    clear(select);
    if (!checked) select.append(el("option", { value: "" }, "check runs above first"));
    boxes.filter((b) => b.checked).forEach((b, i) => {
      const run = offered[boxes.indexOf(b)];
      const selected = run.id === keep || (!keep && i === 0);
      select.append(el("option", { value: run.id, selected }, runName(run)));
    });
  };
  boxes.forEach((b) => b.addEventListener("change", fill));
  fill();
  const form = el(
    "form",
    { id: "pick", class: "card" },
    el(
      "fieldset",
      {},
      el("legend", {}, `Runs to compare (the ${RECENT} newest, and those chosen)`),
      offered.length
        ? offered.map((run, i) => el("label", {}, boxes[i], " ", runLine(run)))
        : empty("No runs yet: start one from New job."),
    ),
    el("label", { for: "baseline" }, "Baseline"),
    el("div", { class: "row" }, select, go),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const ids = boxes.filter((b) => b.checked).map((b) => b.value);
    const params = new URLSearchParams({ runs: ids.join(","), baseline: select.value });
    location.assign(`/compare?${params.toString().replaceAll("%2C", ",")}`);
  });
  return el("details", { open: chosen.length < 2 }, el("summary", {}, "Choose runs"), form);
}

function runCards(runs) {
  return el(
    "div",
    { class: "cards" },
    runs.map((run, i) =>
      el(
        "div",
        { class: "card" },
        el("div", { class: "big" }, runLetter(i), " ",
          i === 0 ? el("span", { class: "tag" }, "baseline") : null),
        el("a", { href: `/runs/${encodeURIComponent(run.id)}` }, runName(run)),
        el("div", { class: "muted" }, `${when(run.created_at)} · ${run.trial_count} trials`),
        el("div", {}, `${run.summary ? pct(run.summary.pass_rate) : "–"} pass`),
      ),
    ),
  );
}

function verdicts(comparisons) {
  const alpha = comparisons[0].alpha;
  return el(
    "section",
    { "aria-labelledby": "verdicts" },
    el("h2", { id: "verdicts" }, "Against the baseline"),
    el("ul", {}, comparisons.map((cmp, i) => {
      const [a, b] = [runLetter(0), runLetter(i + 1)];
      return el("li", { class: "verdict" }, el("p", {}, verdict(cmp, a, b)),
        el("p", { class: "muted" }, scoreWords(cmp, a, b)));
    })),
    el("p", { class: "muted" }, `Pass/fail flips are tested with McNemar's test on paired cases ` +
      `(α = ${alpha}); a case with an error counts as a fail.`),
  );
}

function pairKey(t) {
  return JSON.stringify([t.caseId, t.prompt.label, t.provider.label, t.sample]);
}

// Rows keyed like the server pairs trials; the baseline's order first.
function rows(pages) {
  const byKey = new Map();
  pages.forEach((page, col) => {
    for (const t of page.items) {
      const key = pairKey(t);
      if (!byKey.has(key)) byKey.set(key, { first: t, cells: [] });
      byKey.get(key).cells[col] = t;
    }
  });
  return [...byKey.values()];
}

function caseCell(row, labelled) {
  const t = row.first;
  const name = t.description || `case ${t.testIdx}`; // as the server names a case
  const vars = Object.entries(t.vars || {}).map(([k, v]) => `${k}=${truncate(v, 40)}`).join(", ");
  const about = [truncate(vars, 100), labelled ? `${t.prompt.label} · ${t.provider.label}` : "",
    t.sample ? `sample ${t.sample}` : ""];
  return el("th", { scope: "row" }, name,
    el("div", { class: "muted" }, about.filter(Boolean).join(" · ")));
}

// A long output opens on demand instead of stretching the table.
function outputText(output) {
  const text = truncate(output, 100000);
  if (text.length <= 160) return el("div", {}, text);
  return el("details", {}, el("summary", {}, truncate(text, 160)), el("pre", {}, text));
}

function trialCell(trial, change) {
  if (!trial) return el("td", { class: "muted" }, "not in this run");
  const status = trialStatus(trial);
  const output = trial.response ? trial.response.output : trial.error;
  return el(
    "td",
    { class: `cell-${status} ${MARK[change] ? change : ""}` },
    el("strong", { class: status }, status), ` ${num(trial.score, 2)}`,
    MARK[change] ? el("div", { class: change === "improved" ? "pass" : "fail" }, MARK[change])
      : null,
    outputText(output),
  );
}

function cutNote(cut, pages) {
  const sizes = cut.map((i) => `Run ${runLetter(i)} has ${pages[i].total} trials`).join("; ");
  const note = `${sizes}: the table shows the first ${CASE_LIMIT} trials of each run`;
  return el("p", { class: "card", id: "cut" }, `${note} (the sentences above count every case).`);
}

function table(runs, pages) {
  const all = rows(pages);
  const groups = new Set(all.map((r) => pairKey({ ...r.first, caseId: "", sample: 0 })));
  const labelled = groups.size > 1; // several prompts or providers: name them per row
  let changed = 0;
  const body = all.map((row) => {
    const changes = row.cells.map((t, col) => (col === 0 ? "same" : cellChange(row.cells[0], t)));
    const flips = changes.some((c) => MARK[c]);
    changed += flips ? 1 : 0;
    const tds = runs.map((_, col) => trialCell(row.cells[col], changes[col]));
    return el("tr", { dataset: { changed: String(flips) } }, caseCell(row, labelled), tds);
  });
  const only = el("input", { type: "checkbox", id: "only-changed" });
  only.addEventListener("change", () => {
    for (const tr of body) tr.hidden = only.checked && tr.dataset.changed !== "true";
  });
  const cut = runs.map((_, i) => i).filter((i) => pages[i].total > pages[i].items.length);
  return el(
    "section",
    { "aria-labelledby": "cases" },
    el("h2", { id: "cases" }, "Cases"),
    cut.length ? cutNote(cut, pages) : null,
    el("p", { class: "muted" }, `${changed} of ${all.length} cases changed against the baseline.`),
    el("div", { class: "row" }, only,
      el("label", { for: "only-changed" }, "Only cases that changed")),
    el(
      "div",
      { class: "scroll-x" },
      el(
        "table",
        { id: "case-table" },
        el("caption", { class: "muted" },
          "Each case in every run; ▲ and ▼ mark a pass/fail flip against the baseline (A)."),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Case"),
          runs.map((_, i) => el("th", { scope: "col" }, i ? runLetter(i) : "A (baseline)")))),
        el("tbody", {}, body),
      ),
    ),
  );
}

guarded(async () => {
  const recent = (await api("/runs", { query: { limit: RECENT } })).items;
  // Runs in the URL may be older than the newest RECENT, or given by an id prefix.
  const found = await Promise.all(
    wanted.map((id) => recent.find((r) => r.id === id) || api(`/runs/${encodeURIComponent(id)}`)),
  );
  const chosen = found.filter((r, i) => found.findIndex((o) => o.id === r.id) === i);
  const asked = query.baseline || "";
  const base = (asked && chosen.find((r) => r.id.startsWith(asked))) || chosen[0];
  const runs = base ? [base, ...chosen.filter((r) => r !== base)] : [];
  clear(app).append(picker(recent, runs, base && base.id));
  if (runs.length < 2) {
    app.append(empty("Choose two or more runs and a baseline, then Compare."));
    return;
  }
  const [comparisons, pages] = await Promise.all([
    Promise.all(runs.slice(1).map((r) => api("/compare", { query: { a: base.id, b: r.id } }))),
    Promise.all(runs.map((r) =>
      api(`/runs/${encodeURIComponent(r.id)}/trials`, { query: { limit: CASE_LIMIT } }))),
  ]);
  app.append(runCards(runs), verdicts(comparisons), table(runs, pages));
});
