// The optimization chart's geometry (pure): where each score and the spend line fall.
import assert from "node:assert/strict";
import { test } from "node:test";
import { chartModel } from "../../src/promptyard/server/ui/static/js/steps_chart.js";

const SIZE = { width: 200, height: 120, left: 0, right: 0, top: 10, bottom: 10 }; // 200 x 100 inside
const ITS = [
  { step: 0, train_score: 0.5, val_score: 0.25, test_score: 0.2, accepted: true },
  { step: 1, train_score: 1, val_score: 0, test_score: null, accepted: false },
  { step: 2, train_score: 0.75, val_score: NaN, test_score: 0.4, accepted: true },
];

test("scores map onto 0..1 from the bottom, steps across", () => {
  const m = chartModel(ITS, {}, SIZE);
  const train = m.series.find((s) => s.key === "train").points;
  assert.deepEqual(train.map((p) => [p.x, p.y]), [[0, 60], [100, 10], [200, 35]]);
  assert.deepEqual(train.map((p) => p.accepted), [true, false, true]);
});

test("missing scores (no test score yet, NaN) draw no point", () => {
  const m = chartModel(ITS, {}, SIZE);
  assert.deepEqual(m.series.find((s) => s.key === "test").points.map((p) => p.step), [0, 2]);
  assert.deepEqual(m.series.find((s) => s.key === "val").points.map((p) => p.step), [0, 1]);
});

test("the spend line has its own axis: the most spent is at the top", () => {
  const m = chartModel(ITS, { 0: 0, 1: 0.5, 2: 1 }, SIZE);
  assert.equal(m.maxSpent, 1);
  assert.deepEqual(m.spentPoints.map((p) => [p.x, p.y]), [[0, 110], [100, 60], [200, 10]]);
  assert.deepEqual(chartModel(ITS, {}, SIZE).spentPoints, []);
});

test("one candidate still gets an axis, and long runs thin their step ticks", () => {
  const one = chartModel([ITS[0]], {}, SIZE);
  assert.equal(one.series[0].points[0].x, 0);
  const many = chartModel(Array.from({ length: 50 }, (_, i) => ({ step: i, train_score: 0.5 })), {}, SIZE);
  assert.ok(many.xTicks.length <= 13 && many.xTicks.length >= 10, String(many.xTicks.length));
  assert.equal(many.xTicks[0].step, 0);
});
