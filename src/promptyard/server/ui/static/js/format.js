// Number and text formatting shared by the pages (pure: tested with node --test).

export function pct(x, digits = 1) {
  return x === null || x === undefined || Number.isNaN(x) ? "–" : `${(x * 100).toFixed(digits)}%`;
}

export function num(x, digits = 3) {
  return x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(digits);
}

export function usd(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  return x === 0 ? "$0" : x < 0.01 ? `$${Number(x).toPrecision(2)}` : `$${Number(x).toFixed(2)}`;
}

export function ms(x) {
  return x === null || x === undefined || Number.isNaN(x) ? "–" : `${Math.round(x)} ms`;
}

export function truncate(text, max = 120) {
  const s = text === null || text === undefined ? "" : typeof text === "string" ? text : JSON.stringify(text);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
