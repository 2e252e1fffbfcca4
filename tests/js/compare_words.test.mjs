// The compare page's wording (run by tests/ui/test_js_modules.py).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  cellChange,
  formatP,
  runLetter,
  scoreWords,
  trialStatus,
  verdict,
} from "../../src/promptyard/server/ui/static/js/compare_words.js";

// The shape of GET /api/compare (reports/compare.py `Comparison.to_dict`), cut to what is read.
function cmp({ improved = 0, regressed = 0, same = 0, p = 1, significant = false, alpha = 0.05,
  onlyA = 0, onlyB = 0, diff = null } = {}) {
  return {
    alpha,
    significant,
    total: {
      paired: improved + regressed + same, improved, regressed,
      only_a: onlyA, only_b: onlyB,
      mcnemar: { p_value: p, method: "exact" },
      score_diff: diff,
    },
  };
}

test("a significant improvement reads as one sentence", () => {
  const c = cmp({ improved: 43, regressed: 5, same: 152, p: 0.0031, significant: true });
  assert.equal(
    verdict(c, "A", "B"),
    "B is better than A on 43 of 200 cases and worse on 5; the difference is significant, p = 0.0031.",
  );
});

test("a regression leads with the cases that got worse", () => {
  const c = cmp({ improved: 1, regressed: 4, same: 5, p: 0.375 });
  assert.equal(
    verdict(c, "baseline", "C"),
    "C is worse than baseline on 4 of 10 cases and better on 1; the difference is not significant, p = 0.38.",
  );
});

test("no flips, nothing paired, one case and cases in only one run", () => {
  assert.equal(verdict(cmp({ same: 7 })), "B and A pass and fail the same 7 cases: no difference to test.");
  assert.equal(verdict(cmp({ onlyA: 3 })), "B and A share no case to compare; 3 cases only in A.");
  assert.equal(
    verdict(cmp({ improved: 1, p: 1, onlyB: 1 })),
    "B is better than A on 1 of 1 case and worse on none; the difference is not significant, p = 1; 1 case only in B.",
  );
});

test("a significant p never reads as alpha or more after rounding", () => {
  const c = cmp({ improved: 30, regressed: 14, p: 0.0496, significant: true });
  assert.match(verdict(c), /significant, p < 0\.05\.$/);
  const tiny = cmp({ improved: 90, regressed: 1, p: 1e-9, significant: true });
  assert.match(verdict(tiny), /significant, p < 0\.001\.$/);
});

test("p-values and run letters", () => {
  assert.equal(formatP(0.003), "p = 0.003");
  assert.equal(formatP(0.41234), "p = 0.41");
  assert.equal(formatP(0.0004), "p < 0.001");
  assert.equal(formatP(null), "");
  assert.deepEqual([0, 1, 25, 26, 27].map(runLetter), ["A", "B", "Z", "AA", "AB"]);
});

test("the score change with its interval, or nothing without pairs", () => {
  const c = cmp({ improved: 2, same: 2, diff: { mean_diff: 0.5, low: -0.25, high: 1, p_value: 0.2 } });
  assert.equal(
    scoreWords(c, "A", "B"),
    "Mean score change from A to B: +0.50 (95% interval −0.25 to +1.00, bootstrap p = 0.2).",
  );
  assert.equal(scoreWords(cmp()), "");
});

test("a cell's change against the baseline; an error counts as a fail", () => {
  const pass = { success: true, error: null };
  const fail = { success: false, error: null };
  const error = { success: false, error: "timeout" };
  assert.equal(trialStatus(pass), "pass");
  assert.equal(trialStatus(fail), "fail");
  assert.equal(trialStatus(error), "error");
  assert.equal(cellChange(fail, pass), "improved");
  assert.equal(cellChange(error, pass), "improved");
  assert.equal(cellChange(pass, error), "regressed");
  assert.equal(cellChange(fail, error), "same");
  assert.equal(cellChange(pass, pass), "same");
  assert.equal(cellChange(undefined, pass), "missing");
  assert.equal(cellChange(pass, null), "missing");
});
