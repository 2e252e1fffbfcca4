// A small hand-written SVG line chart: one shared x (points in order), up to two y axes
// (left and right). The scale and path helpers are pure and tested with node --test; only
// lineChart() touches the DOM, and it sets text with textContent, never markup.

const SVG = "http://www.w3.org/2000/svg";

// [min, max] of the finite numbers in `values`, or null when there are none.
export function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (typeof v !== "number" || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo === Infinity ? null : [lo, hi];
}

// Maps the domain [d0, d1] onto the range [r0, r1]; an empty domain maps to the middle.
export function scaleLinear([d0, d1], [r0, r1]) {
  const span = d1 - d0;
  return (v) => (span === 0 ? (r0 + r1) / 2 : r0 + ((v - d0) / span) * (r1 - r0));
}

// A step of 1, 2 or 5 times a power of ten, the nearest (on a log scale) to
// (max - min) / count: the thresholds are the geometric means of neighbouring factors.
function niceStep(min, max, count) {
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const err = raw / mag;
  const factor = err >= Math.sqrt(50) ? 10 : err >= Math.sqrt(10) ? 5 : err >= Math.sqrt(2) ? 2 : 1;
  return factor * mag;
}

// Round numbers between min and max (inclusive), about `count` steps apart.
export function niceTicks(min, max, count = 4) {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) return [];
  if (max === min) return [min];
  const step = niceStep(min, max, count);
  const out = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12))); // no 0.30000000000000004
  }
  return out;
}

// [lo, hi] widened to round numbers, so the top tick sits on the top edge; a flat or missing
// extent becomes [0, 1] or [x, x + |x|] so that a line still has room.
export function niceDomain(range) {
  if (!range) return [0, 1];
  let [lo, hi] = range;
  if (lo === hi) hi = lo + (Math.abs(lo) || 1);
  const step = niceStep(lo, hi, 4);
  return [Math.floor(lo / step + 1e-9) * step, Math.ceil(hi / step - 1e-9) * step].map((v) =>
    Number(v.toPrecision(12)),
  );
}

const fmt = (n) => String(Math.round(n * 100) / 100);

// An SVG path through points {x, y}; a missing y (null, NaN) lifts the pen, leaving a gap.
export function linePath(points) {
  const parts = [];
  let pen = false;
  for (const { x, y } of points) {
    if (typeof y !== "number" || !Number.isFinite(y)) {
      pen = false;
      continue;
    }
    parts.push(`${pen ? "L" : "M"}${fmt(x)} ${fmt(y)}`);
    pen = true;
  }
  return parts.join(" ");
}

function node(tag, attrs = {}, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

// lineChart({label, labels, series, width, height}): `labels[i]` names point i (x axis and
// tooltips); each series is {name, values, format, axis: "left"|"right", color, dash,
// domain?}. Colours are presentation attributes: the page's CSP forbids inline styles.
export function lineChart({ label, labels, series, width = 720, height = 240 }) {
  const m = { top: 28, right: 56, bottom: 26, left: 48 };
  const svg = node("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": label });
  svg.append(node("title", {}, label));
  const x = scaleLinear([0, Math.max(0, labels.length - 1)], [m.left, width - m.right]);
  const bottom = height - m.bottom;
  series.forEach((s, k) => {
    const domain = s.domain || niceDomain(extent(s.values));
    const y = scaleLinear(domain, [bottom, m.top]);
    const left = s.axis !== "right";
    for (const t of niceTicks(domain[0], domain[1], 4)) {
      if (left) {
        svg.append(node("line", { x1: m.left, x2: width - m.right, y1: fmt(y(t)), y2: fmt(y(t)),
          stroke: "currentColor", "stroke-opacity": 0.15 }));
      }
      svg.append(node("text", { x: left ? m.left - 6 : width - m.right + 6, y: fmt(y(t) + 4),
        "text-anchor": left ? "end" : "start" }, s.format(t)));
    }
    const pts = s.values.map((v, i) => ({ x: x(i), y: v === null ? null : y(v) }));
    svg.append(node("path", { d: linePath(pts), fill: "none", stroke: s.color,
      "stroke-width": 2, "stroke-dasharray": s.dash || "none", class: "series" }));
    pts.forEach((p, i) => {
      if (p.y === null || !Number.isFinite(p.y)) return;
      const dot = node("circle", { cx: fmt(p.x), cy: fmt(p.y), r: 3.5, fill: s.color });
      dot.append(node("title", {}, `${labels[i]}: ${s.name} ${s.format(s.values[i])}`));
      svg.append(dot);
    });
    // The legend: a line sample in the series' colour and dash, then its name.
    const lx = m.left + k * 150;
    svg.append(node("line", { x1: lx, x2: lx + 22, y1: 12, y2: 12, stroke: s.color,
      "stroke-width": 2, "stroke-dasharray": s.dash || "none" }));
    svg.append(node("text", { x: lx + 28, y: 16 }, `${s.name} (${left ? "left" : "right"})`));
  });
  svg.append(node("line", { x1: m.left, x2: width - m.right, y1: bottom, y2: bottom,
    stroke: "currentColor", "stroke-opacity": 0.4 }));
  const shown = labels.length > 2 ? [0, labels.length - 1] : labels.map((_, i) => i);
  for (const i of shown) {
    const anchor = labels.length === 1 ? "middle" : i === 0 ? "start" : "end";
    svg.append(node("text", { x: fmt(x(i)), y: height - 8, "text-anchor": anchor }, labels[i]));
  }
  return svg;
}
