// /jobs/{job_id}: one job, live. Its events (step, trial, scoring, proposal, error, end) are
// folded into the page one at a time: progress, counts, the latest trials, the errors, and for
// an optimization its steps and proposals. A reload resumes where the page was (see sse.js:
// the events already seen come from GET /api/jobs/{id}, the rest from the stream after them).
import { api, headers, pageData } from "../api.js";
import { clear, el, guarded, showBanner } from "../dom.js";
import { ms, num, pct, truncate, usd, when } from "../format.js";
import { followJob, rememberSeq, seenSeq } from "../sse.js";

const MAX_ROWS = { evaluate: 500, run: 500, optimize: 100 }; // trial rows kept, newest first
const MAX_ERRORS = 50;
const LIVE = new Set(["queued", "running"]);
const STATUS_CLASS = { succeeded: "pass", failed: "fail", cancelled: "error", interrupted: "error" };

const jobId = pageData().params.job_id;
const app = document.getElementById("app");
const quote = encodeURIComponent(jobId);

const ui = {
  status: el("span", { id: "status", class: "tag" }),
  cancel: el("button", { type: "button", class: "danger", id: "cancel" }, "Cancel"),
  // app.css gives buttons a display, which beats [hidden]: the box around it hides instead.
  cancelBox: el("span", { hidden: true }),
  links: el("span", { id: "links" }),
  progress: el("progress", { id: "progress", max: 1 }),
  progressText: el("span", { id: "progress-text", class: "muted" }),
  errorsHead: el("h2", { hidden: true }, "Errors"),
  errors: el("ul", { id: "errors", hidden: true }),
  stepsHead: el("h2", { hidden: true }, "Steps"),
  steps: el("ol", { id: "steps", hidden: true }),
  proposalsHead: el("h2", { hidden: true }, "Proposals"),
  proposals: el("tbody", {}),
  trialsNote: el("p", { class: "muted", id: "trials-note" }),
  trials: el("tbody", {}),
};

// What the events so far add up to.
const state = { kind: "", status: "", planned: null, maxCycles: 5, phases: 0, cycles: 0, seq: 0,
                trials: 0, passed: 0, failed: 0, errored: 0, cost: 0, latency: 0, errors: 0,
                runId: null, spent: null };

ui.cancelBox.append(ui.cancel);
ui.progress.style.width = "min(480px, 60%)"; // CSSOM, which the CSP allows (style="" it does not)

function setStatus(status) {
  state.status = status;
  ui.status.className = `tag status ${STATUS_CLASS[status] || ""}`;
  ui.status.textContent = status;
  ui.status.dataset.status = status;
  ui.cancelBox.hidden = !LIVE.has(status);
}

// The counts, made once and updated in place (a busy job sends hundreds of events a second).
const COUNTS = [["trials", "Trials"], ["passed", "Passed"], ["failed", "Failed"], ["errors", "Errors"],
                ["cost", "Cost"], ["latency", "Mean latency"]];
const count = {};
const countCards = {};
for (const [key, label] of COUNTS) {
  count[key] = el("div", { class: "big", id: `count-${key}` });
  countCards[key] = el("div", { class: "card" },
    el("div", { class: "muted", id: `${key}-label` }, label), count[key]);
}

function showProgress() {
  const optimize = state.kind === "optimize";
  const total = optimize ? state.maxCycles + 2 : state.planned; // seed, cycles, test
  const done = optimize ? state.phases : state.trials;
  if (state.status === "succeeded" && total) ui.progress.value = ui.progress.max = total;
  else if (total) {
    ui.progress.max = total;
    ui.progress.value = Math.min(done, total);
  } else ui.progress.removeAttribute("value"); // not known yet: indeterminate
  const share = total ? Math.min(1, ui.progress.value / total) : null;
  ui.progressText.textContent = optimize
    ? ` ${state.phases ? `${state.cycles} of ${state.maxCycles} cycles` : "starting"} · ${pct(share, 0)}`
    : ` ${state.trials} / ${state.planned ?? "?"} trials · ${pct(share, 0)}`;
  count.trials.textContent = String(state.trials);
  count.passed.textContent = String(state.passed);
  count.failed.textContent = String(state.failed);
  count.errors.textContent = String(state.errored + state.errors);
  count.cost.textContent = usd(optimize ? state.spent : state.cost);
  count.latency.textContent = ms(state.trials ? state.latency / state.trials : null);
}

function addError(text) {
  state.errors += 1;
  ui.errorsHead.hidden = ui.errors.hidden = false;
  ui.errors.prepend(el("li", { class: "error" }, truncate(text, 2000)));
  if (ui.errors.childElementCount > MAX_ERRORS) ui.errors.lastElementChild.remove();
}

function onTrial(p, seq) {
  state.trials += 1;
  const verdict = p.error ? "error" : (p.success ?? p.passed) ? "pass" : "fail";
  state[{ pass: "passed", fail: "failed", error: "errored" }[verdict]] += 1;
  state.cost += p.cost || 0;
  state.latency += p.latency_ms || 0;
  if (p.error) {
    state.errors -= 1; // counted in `errored`; listed with the others
    addError(`trial ${p.index ?? p.case_id}: ${p.error}`);
  }
  const where = p.split // an optimization's trial, else an evaluation's
    ? `${p.split} · step ${p.step ?? "–"}`
    : `${p.prompt_label ?? ""} · ${p.provider_label ?? ""}`;
  ui.trials.prepend(el("tr", { class: `cell-${verdict}`, dataset: { seq, index: p.index ?? p.case_id } },
    el("td", {}, String(p.index ?? p.case_index ?? "–")),
    el("td", {}, where),
    el("td", { class: verdict }, verdict),
    el("td", {}, num(p.score, 2)),
    el("td", { class: "hide-narrow" }, ms(p.latency_ms)),
    el("td", {}, el("code", {}, truncate(p.output, 240))),
    el("td", { class: "hide-narrow" }, truncate(p.error || p.reason, 240))));
  if (ui.trials.childElementCount > (MAX_ROWS[state.kind] ?? 500)) ui.trials.lastElementChild.remove();
  const shown = ui.trials.childElementCount;
  ui.trialsNote.textContent = shown < state.trials ? `The latest ${shown} of ${state.trials} trials.` : "";
}

function stepText(p) {
  if (p.phase === "started" || p.phase === "resumed") return `${p.phase}: ${p.planned} trials planned`;
  if (p.phase === "preflight") {
    return `pre-flight: ${p.calls_per_candidate} calls and about ${usd(p.usd_per_candidate)} per candidate`
      + (p.candidates_affordable != null ? `; the budget allows ${p.candidates_affordable}` : "");
  }
  if (p.phase === "seed") return `seed: train ${num(p.train)}, validation ${num(p.val)}`;
  if (p.phase === "cycle") {
    return `cycle ${p.step}: ${p.accepted ? "a candidate was accepted" : "nothing accepted"};`
      + ` best step ${p.best_step} (validation ${num(p.best_val)}); spent ${usd(p.spent_usd)}`;
  }
  if (p.phase === "test") {
    return `test: seed ${num(p.seed)} → best ${num(p.best)} (Δ ${num(p.diff)}, interval`
      + ` ${num(p.diff_interval?.[0])}..${num(p.diff_interval?.[1])}, n=${p.n}); stopped: ${p.stopped}`;
  }
  return `${p.phase}`;
}

function onStep(p) {
  if (p.planned != null) state.planned = p.planned;
  if (p.run_id) state.runId = p.run_id;
  if (p.spent_usd != null) state.spent = p.spent_usd;
  if (state.kind === "optimize" && ["seed", "cycle", "test"].includes(p.phase)) state.phases += 1;
  if (p.phase === "cycle") state.cycles += 1;
  if (p.phase === "test") state.phases = state.maxCycles + 2;
  ui.stepsHead.hidden = ui.steps.hidden = false;
  ui.steps.append(el("li", { dataset: { phase: p.phase } }, stepText(p)));
}

function onProposal(p) {
  const d = p.decision || {};
  if (p.spent_usd != null) state.spent = p.spent_usd;
  ui.proposalsHead.hidden = false;
  ui.proposals.append(el("tr", { dataset: { step: p.step } },
    el("td", {}, String(p.step)), el("td", {}, String(p.parent ?? "–")),
    el("td", {}, num(p.train)), el("td", {}, num(p.val)),
    el("td", { class: d.accepted ? "pass" : "fail" }, d.accepted ? "accepted" : "rejected"),
    el("td", {}, `${num(d.mean_diff)} [${num(d.interval?.[0])}, ${num(d.interval?.[1])}]`),
    el("td", { class: "hide-narrow" }, truncate(d.reason, 200)),
    el("td", {}, el("details", {}, el("summary", {}, "prompt"), el("pre", {}, p.prompt ?? "")))));
}

function onEnd(p) {
  if (p.run_id) state.runId = p.run_id;
  if (p.error) addError(p.error);
  setStatus(p.status);
  showLinks();
}

// Fold one event into the page (each seq once: the snapshot and the stream never overlap,
// and followJob drops repeats, but a guard here costs nothing).
function apply(event) {
  if (event.seq <= state.seq) return;
  state.seq = event.seq;
  if (event.type !== "end" && state.status === "queued") setStatus("running");
  const p = event.payload || {};
  if (event.type === "trial") onTrial(p, event.seq);
  else if (event.type === "step") onStep(p);
  else if (event.type === "proposal") onProposal(p);
  else if (event.type === "scoring" && p.spent_usd != null) state.spent = p.spent_usd;
  else if (event.type === "error") addError(p.message || JSON.stringify(p));
  else if (event.type === "end") onEnd(p);
  showProgress();
}

function showLinks() {
  const links = [];
  if (state.kind === "optimize") {
    links.push(el("a", { href: `/optimizations/${quote}`, id: "optimization-link" }, "Optimization"));
  }
  if (state.runId) {
    links.push(el("a", { href: `/runs/${encodeURIComponent(state.runId)}`, id: "run-link" }, "Run report"));
  }
  clear(ui.links).append(...links.flatMap((a, i) => (i ? [" · ", a] : [a])));
}

ui.cancel.addEventListener("click", () => guarded(async () => {
  if (!confirm("Cancel this job? What has finished is kept.")) return;
  ui.cancel.disabled = true;
  try {
    await api(`/jobs/${quote}/cancel`, { method: "POST" });
    showBanner("Cancelling: the job stops within one call.", { ok: true });
  } finally {
    ui.cancel.disabled = false;
  }
}));

function layout(job) {
  const trialHead = ["#", "Where", "Result", "Score", "Latency", "Output", "Reason"];
  const proposalHead = ["Step", "Parent", "Train", "Validation", "Decision", "Mean diff [interval]",
                        "Reason", ""];
  const head = (names, narrow) => el("thead", {}, el("tr", {},
    names.map((h, i) => el("th", { class: narrow.includes(i) ? "hide-narrow" : undefined }, h))));
  clear(app).append(
    el("div", { class: "row" }, ui.status, el("span", {}, `${job.kind} job`),
      el("code", { class: "muted" }, job.id), ui.cancelBox),
    el("p", { class: "muted" }, `created ${when(job.created_at)}`,
      job.started_at ? ` · started ${when(job.started_at)}` : "",
      job.project ? ` · project ${job.project}` : "",
      " · ", ui.links),
    el("p", {}, ui.progress, ui.progressText),
    el("div", { class: "cards", id: "counts" }, Object.values(countCards)),
    ui.errorsHead, ui.errors, ui.stepsHead, ui.steps, ui.proposalsHead,
    el("div", { class: "scroll-x" }, el("table", { id: "proposals" }, head(proposalHead, [6]), ui.proposals)),
    el("h2", {}, "Latest trials"), ui.trialsNote,
    el("div", { class: "scroll-x" }, el("table", { id: "trials" }, head(trialHead, [4, 6]), ui.trials)));
  ui.proposals.closest("table").hidden = job.kind !== "optimize";
  if (job.kind === "optimize") {
    countCards.latency.hidden = true; // the loop's trials carry no latency
    countCards.cost.querySelector("#cost-label").textContent = "Spent";
  }
}

guarded(async () => {
  const detail = await api(`/jobs/${quote}`);
  const { job } = detail;
  document.getElementById("title").textContent = `Job ${job.id.slice(0, 8)}`;
  state.kind = job.kind;
  state.runId = job.run_id;
  state.maxCycles = Number((detail.manifest.options || {}).max_cycles ?? 5);
  layout(job);
  setStatus(job.status);
  showLinks();
  showProgress();
  // Render from the snapshot up to the seq this tab last saw (all of it on a first visit, or
  // when the job is over: its log is complete); the stream carries on after it.
  const over = !LIVE.has(job.status);
  const last = detail.events.length ? detail.events[detail.events.length - 1].seq : 0;
  const seen = seenSeq(jobId);
  const from = seen && !over ? Math.min(seen, last) : last;
  for (const event of detail.events) if (event.seq <= from) apply(event);
  rememberSeq(jobId, from); // seen now, as the streamed ones will be (by followJob)
  if (over) {
    setStatus(job.status); // an interrupted job has no `end`: its status says how it ended
    return showProgress();
  }
  if (!LIVE.has(state.status)) return; // it ended between the two reads of the snapshot
  const stop = new AbortController();
  addEventListener("pagehide", () => stop.abort());
  await followJob(jobId, {
    after: from, onEvent: apply, headers, signal: stop.signal,
    stillLive: async () => {
      const now = (await api(`/jobs/${quote}`)).job;
      if (!LIVE.has(now.status) && state.status !== now.status) setStatus(now.status);
      return LIVE.has(now.status);
    },
  });
});
