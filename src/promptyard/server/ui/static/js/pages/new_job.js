// /jobs/new: start an evaluation (prompt version or label, providers typed as provider:model
// or a profile name, with suggestions; dataset; concurrency and repeat) or an optimization
// (the optimizer from the catalog with a form built from its parameter schema; budgets and
// loop options). The job's live page opens once the server has accepted it.
// Query parameters preselect: ?kind=optimize&project=&prompt=&dataset=
import { api, pageData } from "../api.js";
import { clear, el, guarded, showBanner } from "../dom.js";
import { schemaFields } from "../schema_form.js";

const BUDGETS = [
  { name: "max_cost_usd", type: "float", default: null, range: [0, null],
    description: "USD for task, judge and proposer calls together" },
  { name: "max_calls", type: "int", default: null, range: [0, null], description: "model calls in all" },
  { name: "max_seconds", type: "float", default: null, range: [1, null],
    description: "wall-clock time for the search (the test scoring follows)" },
];
const LOOP = [
  { name: "max_cycles", type: "int", default: 5, range: [0, 100],
    description: "propose-and-validate rounds" },
  { name: "candidates_per_cycle", type: "int", default: 3, range: [1, 20],
    description: "proposals validated per cycle" },
  { name: "patience", type: "int", default: 2, range: [1, 100],
    description: "cycles without an accepted candidate before stopping" },
  { name: "metric", type: "str", default: "score", choices: ["score", "pass"],
    description: "accept on the mean score (paired bootstrap) or the pass rate (McNemar)" },
  { name: "alpha", type: "float", default: 0.05, range: [0.001, 0.5],
    description: "the run's chance of accepting a candidate that is no better (noise)" },
  { name: "correction", type: "str", default: "spending", choices: ["spending", "none"],
    description: "spending: alpha shared out over cycles and candidates; none: each test at alpha" },
  { name: "train_split_ratio", type: "float", default: null, range: [0.05, 0.95],
    description: "share of unsplit cases for train; the rest halves into validation and test (default 0.6)" },
  { name: "seed", type: "int", default: 0, range: [0, null], description: "same seed, same result" },
];
const EVAL = [
  { name: "max_concurrency", type: "int", default: null, range: [1, 256],
    description: "calls in flight at once (default: the config's)" },
  { name: "repeat", type: "int", default: 1, range: [1, 100], description: "samples per case" },
  { name: "cache", type: "bool", default: true,
    description: "answer repeated calls from the response cache" },
];

const app = document.getElementById("app");
const query = pageData().query;

function field(label, control, hint) {
  return el("div", { class: "field" }, el("label", { for: control.id }, label), control,
    hint ? el("small", { class: "muted" }, ` ${hint}`) : null);
}

function options(select, items, wanted) {
  clear(select).append(...items.map(([value, text]) =>
    el("option", { value, selected: value === wanted }, text)));
}

function providerInput(value = "") {
  return el("input", { class: "provider", name: "provider", list: "provider-options", value,
                       placeholder: "openai:gpt-4.1-mini or a profile", autocomplete: "off",
                       "aria-label": "Provider", size: 36 });
}

guarded(async () => {
  const [catalog, optimizers, profiles] = await Promise.all([
    api("/catalog"), api("/optimizers"), api("/profiles")]);
  const projects = catalog.projects;
  const none = { prompts: [], datasets: [], profiles: [] };
  const byName = (name) => projects.find((p) => (p.name ?? "") === name) || none;

  const project = el("select", { id: "project", name: "project" });
  const prompt = el("select", { id: "prompt", name: "prompt", required: true });
  const version = el("select", { id: "version", name: "version" });
  const dataset = el("select", { id: "dataset", name: "dataset" });
  const suggestions = el("datalist", { id: "provider-options" });
  const providers = el("div", { id: "providers" }, providerInput(query.provider || ""));
  const evalFields = schemaFields(EVAL, { prefix: "eval" });
  const model = el("input", { id: "model", name: "model", list: "provider-options", required: true,
                              autocomplete: "off", size: 36, placeholder: "the model to optimize for" });
  const proposer = el("input", { id: "proposer", name: "proposer", list: "provider-options",
                                 autocomplete: "off", size: 36,
                                 placeholder: "the model that rewrites prompts" });
  const optimizer = el("select", { id: "optimizer", name: "optimizer" });
  const about = el("p", { class: "muted", id: "optimizer-about" });
  const hyper = el("div", { id: "hyperparameters" });
  const budgets = schemaFields(BUDGETS, { prefix: "budget" });
  const loop = schemaFields(LOOP, { prefix: "option" });
  let hyperFields = schemaFields([]);

  const kinds = ["evaluate", "optimize"].map((k) => el("label", {},
    el("input", { type: "radio", name: "kind", value: k, checked: (query.kind || "evaluate") === k }),
    ` ${k}`));
  const evaluateSet = el("fieldset", { id: "evaluate-fields" }, el("legend", {}, "Evaluate with"),
    el("label", {}, "Providers"), providers,
    el("button", { type: "button", class: "secondary", id: "add-provider",
                   onclick: () => providers.append(providerInput()) }, "Add a provider"),
    evalFields.element);
  const optimizeSet = el("fieldset", { id: "optimize-fields" }, el("legend", {}, "Optimize"),
    field("Model", model, "provider:model or a profile"),
    field("Optimizer", optimizer), about, hyper,
    field("Proposer model", proposer, "rewrites the prompt; some optimizers do without"),
    el("h3", {}, "Budgets"), budgets.element, el("h3", {}, "Loop"), loop.element);
  const start = el("button", { type: "submit", id: "start" }, "Start");
  const form = el("form", { id: "job-form" },
    el("fieldset", {}, el("legend", {}, "Job"), el("div", { class: "row" }, kinds)),
    el("fieldset", {}, el("legend", {}, "Prompt and data"),
      el("div", { class: "row" }, field("Project", project), field("Prompt", prompt),
        field("Version or label", version), field("Dataset", dataset))),
    evaluateSet, optimizeSet, suggestions, el("p", {}, start));
  clear(app).append(form);

  const kind = () => form.querySelector("input[name=kind]:checked").value;
  const chosenOptimizer = () => optimizers.find((o) => o.name === optimizer.value);

  function showKind() {
    const optimize = kind() === "optimize";
    // Hidden fieldsets are disabled too: their required fields must not block the other kind.
    optimizeSet.hidden = optimizeSet.disabled = !optimize;
    evaluateSet.hidden = evaluateSet.disabled = optimize;
    start.textContent = optimize ? "Start the optimization" : "Start the evaluation";
    showDatasets();
  }

  function showProject() {
    const entry = byName(project.value);
    options(prompt, entry.prompts.map((p) => [p.name, p.name]), query.prompt);
    const names = [...entry.profiles, ...(project.value ? byName("").profiles : [])].map((p) => p.name);
    clear(suggestions).append(...[...new Set(names)].map((n) => el("option", { value: n }, "profile")),
      ...catalog.providers.map((p) => el("option", { value: `${p}:` })));
    showVersions();
    showDatasets();
  }

  function showVersions() {
    const entry = byName(project.value).prompts.find((p) => p.name === prompt.value);
    if (!entry) return options(version, [], null);
    const items = [[entry.name, `latest (v${entry.latest_version})`]];
    for (const [label, v] of Object.entries(entry.labels || {})) {
      items.push([`${entry.name}:${label}`, `${label} (v${v})`]);
    }
    for (let v = entry.latest_version; v >= 1; v -= 1) items.push([`${entry.name}@${v}`, `v${v}`]);
    options(version, items, entry.name);
  }

  function showDatasets() {
    const entry = byName(project.value);
    const none = kind() === "optimize" ? [] : [["", "(none: one case, no vars)"]];
    options(dataset, [...none, ...entry.datasets.map((d) => [d.name, `${d.name} (${d.row_count} rows)`])],
      query.dataset ?? (dataset.value || entry.datasets[0]?.name));
    dataset.required = kind() === "optimize";
  }

  function showOptimizer() {
    const info = chosenOptimizer();
    about.textContent = info ? info.description : "";
    hyperFields = schemaFields(info ? info.params : [], { prefix: "hp" });
    clear(hyper).append(hyperFields.element);
    proposer.required = Boolean(info && info.needs_proposer);
    proposer.disabled = !proposer.required;
  }

  options(project, projects.map((p) => [p.name ?? "", p.name ?? "(no project)"]),
    query.project ?? (projects.find((p) => p.prompts.length)?.name ?? ""));
  options(optimizer, optimizers.map((o) => [o.name, o.name]), query.optimizer || "instruct");
  project.addEventListener("change", showProject);
  prompt.addEventListener("change", showVersions);
  optimizer.addEventListener("change", showOptimizer);
  for (const radio of form.querySelectorAll("input[name=kind]")) radio.addEventListener("change", showKind);
  showProject();
  showOptimizer();
  showKind();

  // A profile named as the proposer is sent as its provider entry: the server resolves
  // profile names for the task model but not (yet) for `proposer_model`.
  function proposerRef(text) {
    const match = profiles.find((p) => p.name === text && [project.value || null, null].includes(p.project));
    if (!match) return text;
    return { id: match.provider_id, config: match.config, ...(match.label ? { label: match.label } : {}) };
  }

  function body() {
    const common = { project: project.value || undefined, prompt: version.value || prompt.value };
    if (kind() === "evaluate") {
      const inputs = [...providers.querySelectorAll("input.provider")];
      const picked = inputs.map((i) => i.value.trim()).filter(Boolean);
      const opts = evalFields.read();
      for (const i of inputs) i.setCustomValidity("");
      if (!picked.length) inputs[0].setCustomValidity("give at least one provider");
      return {
        ok: picked.length > 0 && !Object.keys(opts.errors).length,
        body: { ...common, providers: picked, dataset: dataset.value || undefined, options: opts.values },
      };
    }
    const [hp, bud, lp] = [hyperFields.read(), budgets.read(), loop.read()];
    const proposerText = proposer.value.trim();
    return {
      ok: [hp, bud, lp].every((r) => !Object.keys(r.errors).length),
      body: { ...common, dataset: dataset.value, model: model.value.trim(), optimizer: optimizer.value,
              proposer_model: proposer.required && proposerText ? proposerRef(proposerText) : undefined,
              hyperparameters: hp.values, budgets: bud.values, options: lp.values },
    };
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const { ok, body: payload } = body();
      const valid = form.reportValidity(); // shows the first problem, typed or missing
      if (!ok || !valid) return;
      showBanner(null);
      start.disabled = true;
      try {
        const path = kind() === "optimize" ? "/optimize" : "/evaluate";
        const { job_id: jobId } = await api(path, { method: "POST", body: payload });
        location.assign(`/jobs/${encodeURIComponent(jobId)}`);
      } finally {
        start.disabled = false;
      }
    });
  });
});
