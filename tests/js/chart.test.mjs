// The chart module's pure helpers (scales, ticks, paths) under node's test runner.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  extent,
  linePath,
  niceDomain,
  niceTicks,
  scaleLinear,
} from "../../src/promptyard/server/ui/static/js/chart.js";

test("extent skips missing and non-finite values", () => {
  assert.deepEqual(extent([3, null, -1, Number.NaN, 7, undefined, Infinity]), [-1, 7]);
  assert.equal(extent([]), null);
  assert.equal(extent([null, Number.NaN]), null);
});

test("a linear scale maps ends to ends, may flip, and centres an empty domain", () => {
  const y = scaleLinear([0, 1], [200, 20]); // SVG y grows downwards
  assert.equal(y(0), 200);
  assert.equal(y(1), 20);
  assert.equal(y(0.5), 110);
  assert.equal(scaleLinear([5, 5], [0, 100])(5), 50);
  assert.equal(scaleLinear([0, 10], [0, 100])(15), 150); // no clamping: callers pick domains
});

test("ticks are round numbers inside the domain", () => {
  assert.deepEqual(niceTicks(0, 1, 4), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 0.3, 3), [0, 0.1, 0.2, 0.3]);
  assert.deepEqual(niceTicks(3, 97, 4), [20, 40, 60, 80]);
  assert.deepEqual(niceTicks(2, 2), [2]);
  assert.deepEqual(niceTicks(5, 1), []);
  assert.deepEqual(niceTicks(Number.NaN, 1), []);
});

test("a nice domain ends on round numbers and never collapses", () => {
  assert.deepEqual(niceDomain([0, 0.0173]), [0, 0.02]);
  assert.deepEqual(niceDomain([0.21, 0.87]), [0.2, 1]);
  assert.deepEqual(niceDomain([0, 0]), [0, 1]);
  assert.deepEqual(niceDomain([4, 4]), [4, 8]);
  assert.deepEqual(niceDomain(null), [0, 1]);
});

test("a line path moves, draws, and lifts the pen over gaps", () => {
  assert.equal(linePath([]), "");
  assert.equal(linePath([{ x: 0, y: 1 }, { x: 10.123, y: 2.5 }]), "M0 1 L10.12 2.5");
  const gap = linePath([{ x: 0, y: 1 }, { x: 1, y: null }, { x: 2, y: 3 }, { x: 3, y: 4 }]);
  assert.equal(gap, "M0 1 M2 3 L3 4");
  assert.equal(linePath([{ x: 0, y: Number.NaN }, { x: 1, y: 5 }]), "M1 5");
});
