// /compare?runs=ID1,ID2[,ID3...]&baseline=ID1: pick runs, read the paired test of each run
// against the baseline in words, and see every case side by side with the flips marked.
// The sentences come from GET /api/compare (all cases); the table from each run's trials,
// the first CASE_LIMIT of each (GET /api/compare has no per-case listing with outputs).
// A column is a run, or one prompt and/or provider of it: `prompt.N` / `provider.N` (N: the
// run's place in `runs`) choose them, so a run may appear twice to compare two of its prompts.
// Columns of one prompt and one provider each pair by case, as the server pairs them.
import { api, pageData } from "../api.js";
import { cellChange, runLetter, scoreWords, trialStatus, verdict } from "../compare_words.js";
import { clear, el, empty, guarded } from "../dom.js";
import { num, pct, truncate, when } from "../format.js";

const RECENT = 50; // runs offered by the picker
const CASE_LIMIT = 500; // trials per run shown in the table
const MARK = { improved: "▲ improved", regressed: "▼ regressed" };

const app = document.getElementById("app");
const query = pageData().query;
const wanted = [];
(query.runs || "").split(",").map((s) => s.trim()).forEach((id, i) => {
  const col = { id, prompt: query[`prompt.${i}`] || "", provider: query[`provider.${i}`] || "" };
  const same = (w) => w.id === col.id && w.prompt === col.prompt && w.provider === col.provider;
  if (id && !wanted.some(same)) wanted.push(col);
});

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

// Reload with these columns (the first is the baseline).
function show(columns) {
  const params = new URLSearchParams({
    runs: columns.map((c) => c.run.id).join(","),
    baseline: columns[0].run.id,
  });
  columns.forEach((c, i) => {
    if (c.prompt) params.set(`prompt.${i}`, c.prompt);
    if (c.provider) params.set(`provider.${i}`, c.provider);
  });
  location.assign(`/compare?${params.toString().replaceAll("%2C", ",")}`);
}

// The prompt and provider labels of a run, from its summary's pairs.
function labels(run, field) {
  const pairs = (run.summary && run.summary.pairs) || [];
  return [...new Set(pairs.map((p) => p[field]))];
}

function chooser(columns, i, what) {
  const col = columns[i];
  const options = labels(col.run, `${what}_label`);
  if (options.length < 2 && !col[what]) return null;
  const select = el("select", { id: `${what}-${i}`, name: `${what}-${i}` },
    el("option", { value: "", selected: !col[what] }, `every ${what}`),
    options.map((label) => el("option", { value: label, selected: label === col[what] }, label)));
  select.addEventListener("change", () =>
    show(columns.map((c, j) => (j === i ? { ...c, [what]: select.value } : c))));
  return el("div", { class: "row" }, el("label", { for: `${what}-${i}` }, what), select);
}

// A run of several prompts: one column per prompt, to compare them with each other.
function splitButton(columns, i) {
  const prompts = labels(columns[i].run, "prompt_label");
  if (prompts.length < 2 || columns[i].prompt) return null;
  const button = el("button", { type: "button", class: "split" }, "Compare its prompts");
  button.addEventListener("click", () => {
    const split = prompts.map((prompt) => ({ ...columns[i], prompt }));
    show([...columns.slice(0, i), ...split, ...columns.slice(i + 1)]);
  });
  return button;
}

function runCards(columns) {
  return el(
    "div",
    { class: "cards" },
    columns.map(({ run }, i) =>
      el(
        "div",
        { class: "card" },
        el("div", { class: "big" }, runLetter(i), " ",
          i === 0 ? el("span", { class: "tag" }, "baseline") : null),
        el("a", { href: `/runs/${encodeURIComponent(run.id)}` }, runName(run)),
        el("div", { class: "muted" }, `${when(run.created_at)} · ${run.trial_count} trials`),
        el("div", {}, `${run.summary ? pct(run.summary.pass_rate) : "–"} pass`),
        chooser(columns, i, "prompt"),
        chooser(columns, i, "provider"),
        splitButton(columns, i),
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
      const hint = cmp.hint && cmp.total.paired === 0
        ? el("p", { class: "hint" }, "Their prompts or providers differ: choose one of each " +
          "in the cards above to compare them case by case.")
        : null;
      return el("li", { class: "verdict" }, el("p", {}, verdict(cmp, a, b)),
        el("p", { class: "muted" }, scoreWords(cmp, a, b)), hint);
    })),
    el("p", { class: "muted" }, `Pass/fail flips are tested with McNemar's test on paired cases ` +
      `(α = ${alpha}); a case with an error counts as a fail.`),
  );
}

// Trials keyed like the server pairs them: a prompt (provider) label is left out when every
// column has one prompt (provider), so runs that differ only by their prompt pair by case.
function keyOf(pages) {
  const single = (f) => pages.every((page) => new Set(page.items.map(f)).size <= 1);
  const byPrompt = !single((t) => t.prompt.label);
  const byProvider = !single((t) => t.provider.label);
  return (t) => JSON.stringify([t.caseId, byPrompt ? t.prompt.label : "",
    byProvider ? t.provider.label : "", t.sample]);
}

// Rows keyed like the server pairs trials; the baseline's order first.
function rows(pages, pairKey) {
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
  const pairKey = keyOf(pages);
  const all = rows(pages, pairKey);
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
  const cut = runs.map((_, i) => i).filter((i) => pages[i].total > pages[i].shown);
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
          runs.map((c, i) => el("th", { scope: "col" }, i ? runLetter(i) : "A (baseline)",
            chosen(c) ? el("div", { class: "muted" }, chosen(c)) : null)))),
        el("tbody", {}, body),
      ),
    ),
  );
}

function chosen(col) {
  return [col.prompt && `prompt ${col.prompt}`, col.provider && `provider ${col.provider}`]
    .filter(Boolean).join(" · ");
}

// A column's trials: its run's, of its prompt and provider when chosen (by label or id).
function columnPage(col, page) {
  const keep = (t) =>
    (!col.prompt || t.prompt.label === col.prompt || t.promptId === col.prompt) &&
    (!col.provider || t.provider.label === col.provider || t.provider.id === col.provider);
  return { items: page.items.filter(keep), total: page.total, shown: page.items.length };
}

guarded(async () => {
  const recent = (await api("/runs", { query: { limit: RECENT } })).items;
  // Runs in the URL may be older than the newest RECENT, or given by an id prefix.
  const found = await Promise.all(
    wanted.map((w) => recent.find((r) => r.id === w.id) || api(`/runs/${encodeURIComponent(w.id)}`)),
  );
  const columns = [];
  found.forEach((run, i) => {
    const col = { run, prompt: wanted[i].prompt, provider: wanted[i].provider };
    const same = (c) => c.run.id === run.id && c.prompt === col.prompt && c.provider === col.provider;
    if (!columns.some(same)) columns.push(col);
  });
  const asked = query.baseline || "";
  const base = (asked && columns.find((c) => c.run.id.startsWith(asked))) || columns[0];
  const runs = base ? [base, ...columns.filter((c) => c !== base)] : [];
  const distinct = runs.map((c) => c.run)
    .filter((r, i, all) => all.findIndex((o) => o.id === r.id) === i);
  clear(app).append(picker(recent, distinct, base && base.run.id));
  if (runs.length < 2) {
    app.append(empty("Choose two or more runs and a baseline, then Compare."));
    if (runs.length) app.append(runCards(runs)); // a run of several prompts can be split
    return;
  }
  const [comparisons, trials] = await Promise.all([
    Promise.all(runs.slice(1).map((c) => api("/compare", { query: {
      a: base.run.id, b: c.run.id, prompt_a: base.prompt, prompt_b: c.prompt,
      provider_a: base.provider, provider_b: c.provider } }))),
    Promise.all(distinct.map((r) =>
      api(`/runs/${encodeURIComponent(r.id)}/trials`, { query: { limit: CASE_LIMIT } }))),
  ]);
  const pages = runs.map((c) =>
    columnPage(c, trials[distinct.findIndex((r) => r.id === c.run.id)]));
  app.append(runCards(runs), verdicts(comparisons), table(runs, pages));
});
