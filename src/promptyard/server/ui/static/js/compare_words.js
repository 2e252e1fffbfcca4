// The compare page's words, pure (tested with node --test): the paired test of two runs as
// one sentence, the score change, and how one case changed against the baseline.

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function signed(x) {
  const s = Number(x).toFixed(2);
  return x > 0 ? `+${s}` : x < 0 ? `−${s.slice(1)}` : s;
}

// Two significant digits, "p < 0.001" below that; "" when there is no p-value.
export function formatP(p) {
  if (p === null || p === undefined || Number.isNaN(p)) return "";
  return p < 0.001 ? "p < 0.001" : `p = ${Number(p.toPrecision(2))}`;
}

// Run letters in column order: A, B, ... Z, AA, AB, ...
export function runLetter(i) {
  const letter = String.fromCharCode(65 + (i % 26));
  return i < 26 ? letter : runLetter(Math.floor(i / 26) - 1) + letter;
}

// One sentence for the answer of GET /api/compare?a=&b= (`cmp`), the runs named `a` and `b`:
// "B is better than A on 43 of 200 cases and worse on 5; the difference is significant,
// p = 0.003."
export function verdict(cmp, a = "A", b = "B") {
  const t = cmp.total;
  let head;
  if (t.paired === 0) {
    head = `${b} and ${a} share no case to compare`;
  } else if (t.improved === 0 && t.regressed === 0) {
    const same = plural(t.paired, "case");
    head = `${b} and ${a} pass and fail the same ${same}: no difference to test`;
  } else {
    const better = t.improved >= t.regressed;
    const [most, least] = better ? [t.improved, t.regressed] : [t.regressed, t.improved];
    const flips =
      `${b} is ${better ? "better" : "worse"} than ${a} on ${most} of ${plural(t.paired, "case")}` +
      ` and ${better ? "worse" : "better"} on ${least || "none"}`;
    let p = formatP(t.mcnemar.p_value);
    // Rounding must not make a significant p read as alpha or more ("p = 0.05" at alpha 0.05).
    if (cmp.significant && t.mcnemar.p_value >= 0.001 && Number(p.slice(4)) >= cmp.alpha) {
      p = `p < ${cmp.alpha}`;
    }
    const sig = cmp.significant ? "significant" : "not significant";
    head = `${flips}; the difference is ${sig}${p ? `, ${p}` : ""}`;
  }
  const only = [];
  if (t.only_a) only.push(`${plural(t.only_a, "case")} only in ${a}`);
  if (t.only_b) only.push(`${plural(t.only_b, "case")} only in ${b}`);
  return `${[head, ...only].join("; ")}.`;
}

// The paired bootstrap of score differences, in words; "" when nothing was paired.
export function scoreWords(cmp, a = "A", b = "B") {
  const d = cmp.total.score_diff;
  if (!d) return "";
  return (
    `Mean score change from ${a} to ${b}: ${signed(d.mean_diff)} ` +
    `(95% interval ${signed(d.low)} to ${signed(d.high)}, bootstrap ${formatP(d.p_value)}).`
  );
}

// A trial (GET /api/runs/{id}/trials item) as "pass", "fail" or "error"; an error is a fail
// for the comparison, as on the server.
export function trialStatus(trial) {
  if (trial.error !== null && trial.error !== undefined) return "error";
  return trial.success ? "pass" : "fail";
}

// How `other` changed against `base` (either may be missing): "improved", "regressed",
// "same", or "missing".
export function cellChange(base, other) {
  if (!base || !other) return "missing";
  const was = trialStatus(base) === "pass";
  const now = trialStatus(other) === "pass";
  return was === now ? "same" : now ? "improved" : "regressed";
}
