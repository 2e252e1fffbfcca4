// Form fields from a parameter schema (an optimizer's `params` in GET /api/optimizers:
// {name, type: int|float|bool|str, default, range: [min|null, max|null], choices, description})
// and the values read back typed. `controlSpec` and `parseValue` are pure (tested with node);
// `schemaFields` puts them in the page.
import { el } from "./dom.js";

// What control a parameter gets: {tag: "input"|"select", attrs, options?}.
export function controlSpec(param) {
  const [min, max] = param.range || [null, null];
  const dflt = param.default;
  if (param.type === "bool") {
    return { tag: "input", attrs: { type: "checkbox", checked: dflt === true } };
  }
  if (param.choices && param.choices.length) {
    const options = param.choices.map((c) => ({ value: String(c), selected: c === dflt }));
    return { tag: "select", attrs: {}, options };
  }
  if (param.type === "int" || param.type === "float") {
    return {
      tag: "input",
      attrs: {
        type: "number", inputmode: param.type === "int" ? "numeric" : "decimal",
        step: param.type === "int" ? "1" : "any",
        min: min ?? undefined, max: max ?? undefined,
        value: dflt === null || dflt === undefined ? undefined : String(dflt),
        placeholder: dflt === null || dflt === undefined ? "none" : undefined,
      },
    };
  }
  return { tag: "input", attrs: { type: "text", value: dflt ?? undefined } };
}

// The typed value of a control's raw value (a string, or a boolean for a checkbox):
// {value} (undefined when left empty: the server's default applies) or {error}.
export function parseValue(param, raw) {
  if (param.type === "bool") return { value: raw === true || raw === "true" || raw === "on" };
  const text = raw === undefined || raw === null ? "" : String(raw).trim();
  if (text === "") return { value: undefined };
  if (param.choices && param.choices.length) {
    return param.choices.map(String).includes(text)
      ? { value: text } : { error: `must be one of ${param.choices.join(", ")}` };
  }
  if (param.type === "int" || param.type === "float") {
    const n = Number(text);
    if (!Number.isFinite(n)) return { error: "must be a number" };
    if (param.type === "int" && !Number.isInteger(n)) return { error: "must be a whole number" };
    const [min, max] = param.range || [null, null];
    if (min !== null && min !== undefined && n < min) return { error: `must be at least ${min}` };
    if (max !== null && max !== undefined && n > max) return { error: `must be at most ${max}` };
    return { value: n };
  }
  return { value: text };
}

// Every parameter's value from {name: raw}: {values} with the empty ones left out, and
// {errors: {name: message}} for those that do not parse.
export function readValues(params, raws) {
  const values = {};
  const errors = {};
  for (const param of params) {
    const { value, error } = parseValue(param, raws[param.name]);
    if (error) errors[param.name] = error;
    else if (value !== undefined) values[param.name] = value;
  }
  return { values, errors };
}

// The fields in a <div>, and `read()` -> {values, errors}. Ids are `${prefix}-${name}`.
export function schemaFields(params, { prefix = "param" } = {}) {
  const controls = new Map();
  const fields = params.map((param) => {
    const id = `${prefix}-${param.name}`;
    const spec = controlSpec(param);
    const hint = param.description ? `${id}-hint` : undefined;
    const control = el(spec.tag, { ...spec.attrs, id, name: param.name, "aria-describedby": hint },
      (spec.options || []).map((o) => el("option", { value: o.value, selected: o.selected }, o.value)));
    controls.set(param.name, control);
    const label = el("label", { for: id }, param.name.replaceAll("_", " "));
    const note = hint ? el("small", { id: hint, class: "muted" }, ` ${param.description}`) : null;
    return spec.attrs.type === "checkbox"
      ? el("div", { class: "field" }, el("label", {}, control, " ", param.name.replaceAll("_", " ")), note)
      : el("div", { class: "field" }, label, control, note);
  });
  const read = () => {
    const raws = {};
    for (const [name, control] of controls) {
      raws[name] = control.type === "checkbox" ? control.checked : control.value;
    }
    const out = readValues(params, raws);
    for (const [name, control] of controls) {
      control.setCustomValidity(out.errors[name] || "");
      if (out.errors[name]) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
    return out;
  };
  return { element: el("div", { class: "schema-form" }, fields), read };
}
