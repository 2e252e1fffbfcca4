// Form fields from an optimizer's parameter schema, and the values read back typed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { controlSpec, parseValue, readValues } from "../../src/promptyard/server/ui/static/js/schema_form.js";

// As GET /api/optimizers answers them (ranges come as floats, open ends as null).
const INT = { name: "max_demos", type: "int", default: 4, description: "demos", range: [1.0, 16.0], choices: null };
const OPEN = { name: "minibatch", type: "int", default: 0, description: "", range: [0.0, null], choices: null };
const FLOAT = { name: "max_cost_usd", type: "float", default: null, description: "", range: [0, null], choices: null };
const BOOL = { name: "use_merge", type: "bool", default: false, description: "", range: null, choices: null };
const CHOICE = { name: "strategy", type: "str", default: "pareto", description: "", range: null,
                 choices: ["pareto", "current_best"] };
const TEXT = { name: "note", type: "str", default: null, description: "", range: null, choices: null };

test("numbers get a number input with their range and step", () => {
  assert.deepEqual(controlSpec(INT), { tag: "input", attrs: { type: "number", inputmode: "numeric",
    step: "1", min: 1, max: 16, value: "4", placeholder: undefined } });
  const open = controlSpec(OPEN).attrs;
  assert.equal(open.min, 0);
  assert.equal(open.max, undefined, "an open end sets no max");
  const float = controlSpec(FLOAT).attrs;
  assert.equal(float.step, "any");
  assert.equal(float.value, undefined, "no default: empty, the server decides");
  assert.equal(float.placeholder, "none");
});

test("a bool is a checkbox, choices a select, other text a text input", () => {
  assert.deepEqual(controlSpec(BOOL), { tag: "input", attrs: { type: "checkbox", checked: false } });
  assert.equal(controlSpec({ ...BOOL, default: true }).attrs.checked, true);
  assert.deepEqual(controlSpec(CHOICE), { tag: "select", attrs: {}, options: [
    { value: "pareto", selected: true }, { value: "current_best", selected: false }] });
  assert.deepEqual(controlSpec(TEXT), { tag: "input", attrs: { type: "text", value: undefined } });
});

test("values parse to their types", () => {
  assert.deepEqual(parseValue(INT, "8"), { value: 8 });
  assert.equal(typeof parseValue(INT, "8").value, "number");
  assert.deepEqual(parseValue(FLOAT, "0.25"), { value: 0.25 });
  assert.deepEqual(parseValue(BOOL, true), { value: true });
  assert.deepEqual(parseValue(BOOL, false), { value: false });
  assert.deepEqual(parseValue(CHOICE, "current_best"), { value: "current_best" });
  assert.deepEqual(parseValue(TEXT, "  hi "), { value: "hi" });
});

test("empty means: leave it to the server", () => {
  for (const p of [INT, FLOAT, CHOICE, TEXT]) assert.deepEqual(parseValue(p, ""), { value: undefined });
  assert.deepEqual(parseValue(FLOAT, undefined), { value: undefined });
});

test("bad values are errors that say why", () => {
  assert.deepEqual(parseValue(INT, "2.5"), { error: "must be a whole number" });
  assert.deepEqual(parseValue(INT, "0"), { error: "must be at least 1" });
  assert.deepEqual(parseValue(INT, "17"), { error: "must be at most 16" });
  assert.deepEqual(parseValue(FLOAT, "abc"), { error: "must be a number" });
  assert.deepEqual(parseValue(FLOAT, "-1"), { error: "must be at least 0" });
  assert.deepEqual(parseValue(CHOICE, "random"), { error: "must be one of pareto, current_best" });
  assert.deepEqual(parseValue(OPEN, "100000"), { value: 100000 }, "no max: anything above min");
});

test("readValues keeps the set values, leaves out the empty ones and collects errors", () => {
  const params = [INT, FLOAT, BOOL, CHOICE, TEXT];
  const ok = readValues(params, { max_demos: "3", max_cost_usd: "", use_merge: true, strategy: "pareto", note: "" });
  assert.deepEqual(ok, { values: { max_demos: 3, use_merge: true, strategy: "pareto" }, errors: {} });
  const bad = readValues(params, { max_demos: "x", max_cost_usd: "-2", use_merge: false, strategy: "pareto" });
  assert.deepEqual(bad.errors, { max_demos: "must be a number", max_cost_usd: "must be at least 0" });
  assert.deepEqual(bad.values, { use_merge: false, strategy: "pareto" });
});
