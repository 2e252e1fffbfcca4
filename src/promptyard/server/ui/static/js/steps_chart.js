// The optimization's score per step as a small SVG: train, validation and test scores of each
// candidate (filled when accepted, hollow when rejected) on a 0..1 axis, and the budget spent
// so far as a line on its own axis at the right. `chartModel` is the pure geometry;
// `stepsChart` draws it (text only through text nodes, colours from the page's theme).

const SVG = "http://www.w3.org/2000/svg";
const SIZE = { width: 720, height: 260, left: 44, right: 64, top: 14, bottom: 44 };
export const SERIES = [
  { key: "train", field: "train_score", label: "train", colour: "var(--accent)" },
  { key: "val", field: "val_score", label: "validation", colour: "var(--pass)" },
  { key: "test", field: "test_score", label: "test", colour: "var(--error)" },
];

const finite = (v) => typeof v === "number" && Number.isFinite(v);

// iterations: [{step, train_score, val_score, test_score, accepted}]; spent: {step: USD so far}.
export function chartModel(iterations, spent = {}, size = SIZE) {
  const steps = iterations.map((i) => i.step);
  const last = Math.max(1, ...steps);
  const innerW = size.width - size.left - size.right;
  const innerH = size.height - size.top - size.bottom;
  const x = (step) => size.left + (step / last) * innerW;
  const y = (score) => size.top + (1 - Math.min(1, Math.max(0, score))) * innerH;
  const series = SERIES.map((s) => ({
    ...s,
    points: iterations.filter((i) => finite(i[s.field])).map((i) => ({
      step: i.step, value: i[s.field], accepted: Boolean(i.accepted), x: x(i.step), y: y(i[s.field]),
    })),
  }));
  const spentSteps = Object.keys(spent).map(Number).filter((k) => finite(spent[k])).sort((a, b) => a - b);
  const maxSpent = Math.max(0, ...spentSteps.map((k) => spent[k]));
  const ySpent = (usd) => size.top + (1 - (maxSpent ? usd / maxSpent : 0)) * innerH;
  const spentPoints = spentSteps.map((k) => ({ step: k, usd: spent[k], x: x(k), y: ySpent(spent[k]) }));
  const every = Math.max(1, Math.ceil((last + 1) / 12));
  const xTicks = [];
  for (let s = 0; s <= last; s += every) xTicks.push({ step: s, x: x(s) });
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((v) => ({ value: v, y: y(v) }));
  return { size, series, spentPoints, maxSpent, xTicks, yTicks };
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "colour") node.style.setProperty(attrs.hollow ? "stroke" : "fill", v);
    else if (k === "stroke-colour") node.style.setProperty("stroke", v);
    else if (k !== "hollow" && v !== undefined) node.setAttribute(k, String(v));
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function stepsChart(iterations, spent = {}, { usd = (v) => `$${v.toFixed(4)}` } = {}) {
  const m = chartModel(iterations, spent);
  const { width, height, left, right, top, bottom } = m.size;
  const chart = svg("svg", {
    class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "Score per step for train, validation and test, and the budget spent",
  });
  const axis = (x1, y1, x2, y2) =>
    svg("line", { x1, y1, x2, y2, stroke: "currentColor", "stroke-opacity": 0.25 });
  for (const t of m.yTicks) {
    chart.append(axis(left, t.y, width - right, t.y),
      svg("text", { x: left - 6, y: t.y + 4, "text-anchor": "end" }, t.value.toFixed(2)));
  }
  for (const t of m.xTicks) {
    chart.append(svg("text", { x: t.x, y: height - bottom + 16, "text-anchor": "middle" }, t.step));
  }
  chart.append(svg("text", { x: left + (width - left - right) / 2, y: height - bottom + 30,
                             "text-anchor": "middle" }, "step"));
  if (m.spentPoints.length) {
    const d = m.spentPoints.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
    chart.append(
      svg("path", { d, fill: "none", "stroke-width": 1.5, "stroke-dasharray": "4 3",
                    "stroke-colour": "var(--muted)" }, svg("title", {}, "budget spent so far")),
      svg("text", { x: width - right + 6, y: top + 4 }, usd(m.maxSpent)),
      svg("text", { x: width - right + 6, y: height - bottom + 4 }, usd(0)),
      svg("text", { x: width - right + 6, y: top + 18 }, "spent"),
    );
  }
  for (const [i, s] of m.series.entries()) {
    const offset = (i - 1) * 3; // the three scores of one step side by side, not on top
    for (const p of s.points) {
      chart.append(svg("circle", {
        cx: (p.x + offset).toFixed(1), cy: p.y.toFixed(1), r: 4, "stroke-width": 2,
        fill: p.accepted ? undefined : "none", hollow: !p.accepted, colour: s.colour,
        "data-series": s.key, "data-step": p.step,
      }, svg("title", {}, `step ${p.step} · ${s.label} ${p.value.toFixed(3)} · `
        + (p.accepted ? "accepted" : "rejected"))));
    }
  }
  let lx = left;
  for (const s of m.series) {
    chart.append(svg("circle", { cx: lx + 4, cy: height - 8, r: 4, colour: s.colour }),
      svg("text", { x: lx + 12, y: height - 4 }, s.label));
    lx += 24 + s.label.length * 7;
  }
  chart.append(svg("text", { x: lx, y: height - 4 }, "filled: accepted · hollow: rejected · dashed: spent"));
  return chart;
}
