// /optimizations/{job_id}: one optimization. Score per step (train, validation, test) with
// the budget spent, the tree of candidates (parent to child) with each decision and its
// statistics, the best candidate's diff against the seed, and saving a candidate as a prompt
// version, optionally moving a label (`production` deploys it). While the job runs the page
// follows its events and redraws after each proposal and step.
import { api, headers, pageData } from "../api.js";
import { clear, el, empty, guarded, showBanner } from "../dom.js";
import { num, usd, when } from "../format.js";
import { followJob } from "../sse.js";
import { stepsChart } from "../steps_chart.js";

const LIVE = new Set(["queued", "running"]);
const STATUS_CLASS = { succeeded: "pass", failed: "fail", cancelled: "error", interrupted: "error" };
const jobId = pageData().params.job_id;
const quote = encodeURIComponent(jobId);
const app = document.getElementById("app");
const view = el("div", { id: "view" });
const spent = {}; // step -> USD spent by the end of it (from the events)

// -- the diff (lines; a longest common subsequence, fine for prompt-sized texts) -------------

function lineDiff(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  if (a.length * b.length > 4e6) {
    return [...a.map((t) => ["-", t]), ...b.map((t) => ["+", t])];
  }
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push([" ", a[i]]);
      i += 1;
      j += 1;
    } else if (j < b.length && (i === a.length || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out.push(["+", b[j]]);
      j += 1;
    } else {
      out.push(["-", a[i]]);
      i += 1;
    }
  }
  return out;
}

function diffView(before, after) {
  const lines = lineDiff(before, after);
  const cls = { "+": "add", "-": "del", " ": "same" };
  return el("pre", { class: "diff", id: "best-diff" },
    lines.map(([op, text]) => el("div", { class: cls[op] }, `${op} ${text}`)));
}

// -- the parts -----------------------------------------------------------------------------

function card(label, value, note, id) {
  return el("div", { class: "card" }, el("div", { class: "muted" }, label),
    el("div", { class: "big", id }, value), note ? el("div", { class: "muted" }, note) : null);
}

function interval(pair) {
  return pair ? `[${num(pair[0])}, ${num(pair[1])}]` : "";
}

function cards(opt, iterations) {
  const r = opt.result;
  const best = opt.best;
  const total = r ? r.spent_usd : Math.max(0, ...Object.values(spent));
  return el("div", { class: "cards", id: "summary" },
    card("Seed on test", num(r?.seed_test), r ? interval(r.test?.seed_interval) : "after the search"),
    card("Best on test", num(r?.best_test),
      r ? `step ${r.best_step} ${interval(r.test?.best_interval)}` : ""),
    card("Gain on test", r ? num(r.test?.diff) : "–",
      r ? `${interval(r.test?.diff_interval)} on ${r.test?.n} cases` : ""),
    card("Best on validation", num(best?.val_score), best ? `step ${best.step}` : "", "best-val"),
    card("Validation − test", num(r?.val_test_gap), "how much validation overstated the winner"),
    card("Spent", usd(total), r ? `${r.calls} calls` : ""),
    card("Candidates", String(iterations.length),
      `${iterations.filter((i) => i.accepted && i.step > 0).length} accepted`, "count-candidates"));
}

function decisionText(d) {
  if (!d) return null;
  const parts = [`Δ ${d.mean_diff >= 0 ? "+" : ""}${num(d.mean_diff)} ${interval(d.interval)}`];
  if (d.p_value != null) parts.push(`p = ${num(d.p_value)}`);
  parts.push(`${d.n_paired} paired: ${d.improved} better, ${d.regressed} worse, ${d.unchanged} same`);
  if (d.excluded) parts.push(`${d.excluded} flaky left out`);
  return parts.join(" · ");
}

const decisionOf = (it) => (it.parent === null ? "seed" : it.accepted ? "accepted" : "rejected");

function node(it, children, bestStep) {
  const kind = decisionOf(it);
  const tag = el("span", { class: `tag decision ${kind === "rejected" ? "fail" : "pass"}` }, kind);
  const d = it.decision;
  return el("li", { dataset: { step: it.step, decision: kind } },
    el("div", { class: "node" },
      el("strong", {}, `step ${it.step} `), tag,
      it.step === bestStep ? el("span", { class: "tag best" }, "best") : null,
      el("span", {}, ` train ${num(it.train_score)} · validation ${num(it.val_score)}`
        + ` · test ${num(it.test_score)} · ${usd(it.cost_usd)}`),
      d ? el("div", { class: "muted stats" }, decisionText(d)) : null,
      d?.reason ? el("div", { class: "muted reason" }, d.reason) : null,
      el("details", {}, el("summary", {}, "prompt"), el("pre", {}, it.prompt))),
    children.length ? el("ul", {}, children) : null);
}

function tree(iterations, bestStep) {
  const kids = new Map();
  const steps = new Set(iterations.map((i) => i.step));
  const roots = [];
  for (const it of iterations) {
    if (it.parent === null || !steps.has(it.parent)) roots.push(it);
    else kids.set(it.parent, [...(kids.get(it.parent) || []), it]);
  }
  const build = (it) => node(it, (kids.get(it.step) || []).map(build), bestStep);
  return el("ul", { class: "tree", id: "tree" }, roots.map(build));
}

function stepOptions(select, iterations, bestStep) {
  const chosen = select.value;
  clear(select).append(el("option", { value: "" }, `the best (step ${bestStep ?? "–"})`),
    ...iterations.map((i) => el("option", { value: String(i.step), selected: String(i.step) === chosen },
      `step ${i.step} (${decisionOf(i)}, validation ${num(i.val_score)})`)));
}

function saveForm(promptName) {
  const name = el("input", { id: "save-name", name: "name", required: true, value: promptName || "" });
  const label = el("input", { id: "save-label", name: "label", list: "label-options",
                              placeholder: "optional, e.g. staging" });
  const step = el("select", { id: "save-step", name: "step" });
  const saved = el("p", { id: "saved", role: "status" });
  const form = el("form", { id: "save-form" },
    el("div", { class: "row" },
      el("div", {}, el("label", { for: "save-name" }, "Prompt name"), name),
      el("div", {}, el("label", { for: "save-step" }, "Candidate"), step),
      el("div", {}, el("label", { for: "save-label" }, "Label"), label)),
    el("datalist", { id: "label-options" }, ["staging", "production"].map((v) => el("option", { value: v }))),
    el("p", { class: "row" },
      el("button", { type: "submit", id: "save" }, "Save as version"),
      el("button", { type: "button", class: "danger", id: "deploy" }, "Deploy to production")),
    saved);

  async function save(asLabel) {
    if (!form.reportValidity()) return;
    const body = { name: name.value.trim(), label: asLabel || label.value.trim() || undefined,
                   step: step.value === "" ? undefined : Number(step.value) };
    const out = await api(`/optimizations/${quote}/save`, { method: "POST", body });
    const link = el("a", { href: `/prompts/${encodeURIComponent(out.name)}` }, `${out.name} v${out.version}`);
    clear(saved).append("Saved step ", String(out.step), " as ", link,
      out.label ? `; ${out.label} now points at it.` : ".");
    showBanner(out.label ? `Saved and labelled ${out.label}.` : "Saved as a new version.", { ok: true });
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); guarded(() => save(null)); });
  form.querySelector("#deploy").addEventListener("click", () => guarded(async () => {
    const ask = "Deploy this candidate: save it and point the production label at it?";
    if (confirm(ask)) await save("production");
  }));
  return form;
}

// -- loading -------------------------------------------------------------------------------

function render(opt, iterations) {
  const status = opt.job.status;
  const bestStep = opt.best?.step ?? opt.result?.best_step;
  const seed = iterations.find((i) => i.parent === null);
  const best = iterations.find((i) => i.step === bestStep) || opt.best;
  clear(view).append(...[
    el("div", { class: "row" },
      el("span", { id: "status", class: `tag status ${STATUS_CLASS[status] || ""}`, dataset: { status } },
        status),
      el("span", {}, `${opt.optimizer || "?"} optimizer`),
      el("a", { href: `/jobs/${quote}` }, "live job view"),
      el("span", { class: "muted" }, `created ${when(opt.job.created_at)}`)),
    opt.result?.stopped ? el("p", { class: "muted", id: "stopped" }, `Stopped: ${opt.result.stopped}`) : null,
    opt.job.error ? el("p", { class: "error" }, opt.job.error) : null,
    cards(opt, iterations),
    el("h2", {}, "Score per step"),
    iterations.length ? stepsChart(iterations, spent, { usd }) : empty("No candidate scored yet."),
    el("h2", {}, "Candidates"),
    iterations.length ? tree(iterations, bestStep) : empty("The seed is being scored."),
    el("h2", {}, "Best candidate against the seed"),
    seed && best
      ? (best.step === seed.step ? empty("The seed is still the best: nothing beat it beyond noise.")
        : el("div", {}, el("p", { class: "muted" }, `step ${best.step}: validation ${num(best.val_score)}`
          + ` against the seed's ${num(seed.val_score)}`),
          diffView(seed.prompt, best.prompt)))
      : empty("Not known yet."),
  ].filter(Boolean));
}

async function load(saveHolder, promptName) {
  const [opt, iterations] = await Promise.all([
    api(`/optimizations/${quote}`), api(`/optimizations/${quote}/iterations`)]);
  render(opt, iterations);
  if (iterations.length && !saveHolder.firstChild) {
    saveHolder.append(el("h2", {}, "Save or deploy"), saveForm(promptName));
  }
  const step = saveHolder.querySelector("#save-step");
  if (step) stepOptions(step, iterations, opt.best?.step);
  return opt;
}

function noteSpent(event) {
  const p = event.payload || {};
  if (p.spent_usd == null) return;
  const step = event.type === "proposal" ? p.step : p.phase === "seed" ? 0 : null;
  if (step !== null && step !== undefined) spent[step] = p.spent_usd;
}

guarded(async () => {
  const detail = await api(`/jobs/${quote}`);
  document.getElementById("title").textContent = `Optimization ${jobId.slice(0, 8)}`;
  const ref = (detail.manifest.request || {}).prompt || "";
  const promptName = ref.split("@")[0].split(":")[0];
  for (const event of detail.events) noteSpent(event);
  const saveHolder = el("section", { id: "save-section" });
  clear(app).append(view, saveHolder);
  const opt = await load(saveHolder, promptName);
  if (!LIVE.has(opt.job.status)) return;
  // Live: redraw (at most every 300 ms) after each proposal, step and the end.
  let pending = null;
  const redraw = () => {
    pending ??= setTimeout(() => { pending = null; guarded(() => load(saveHolder, promptName)); }, 300);
  };
  const last = detail.events.length ? detail.events[detail.events.length - 1].seq : 0;
  const stop = new AbortController();
  addEventListener("pagehide", () => stop.abort());
  await followJob(jobId, {
    after: last, headers, signal: stop.signal, storage: null,
    onEvent: (event) => {
      noteSpent(event);
      if (["proposal", "step", "end"].includes(event.type)) redraw();
    },
    stillLive: async () => LIVE.has((await api(`/optimizations/${quote}`)).job.status),
  });
  redraw();
});
