// Pure UI modules under node's own test runner (run by tests/ui/test_js_modules.py).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ms, num, pct, truncate, usd } from "../../src/promptyard/server/ui/static/js/format.js";

test("missing numbers read as a dash", () => {
  for (const f of [pct, num, usd, ms]) {
    assert.equal(f(null), "–");
    assert.equal(f(undefined), "–");
    assert.equal(f(Number.NaN), "–");
  }
});

test("percent, fixed and money formats", () => {
  assert.equal(pct(0.8333), "83.3%");
  assert.equal(num(0.5, 2), "0.50");
  assert.equal(usd(0), "$0");
  assert.equal(usd(0.0012345), "$0.0012");
  assert.equal(usd(1.5), "$1.50");
  assert.equal(ms(12.6), "13 ms");
});

test("truncate keeps short text and marks the cut", () => {
  assert.equal(truncate("short", 10), "short");
  assert.equal(truncate("abcdefghijkl", 5), "abcd…");
  assert.equal(truncate({ a: 1 }, 20), '{"a":1}');
  assert.equal(truncate(null), "");
});
