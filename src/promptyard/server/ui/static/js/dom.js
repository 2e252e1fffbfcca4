// Small DOM helpers: elements are built with text, never with HTML strings, so data from the
// server (model outputs, prompt text) can never become markup.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// One message at the top of the page; `ok` for good news. Cleared with showBanner(null).
export function showBanner(message, { ok = false } = {}) {
  const banner = document.getElementById("banner");
  if (!banner) return;
  banner.hidden = !message;
  banner.classList.toggle("ok", ok);
  banner.textContent = message || "";
}

// Run an async page start, showing any error in the banner instead of failing silently.
export async function guarded(fn) {
  try {
    await fn();
  } catch (err) {
    if (err && err.status === 401) return; // on its way to /login
    showBanner(err && err.message ? err.message : String(err));
  }
}

export function empty(message) {
  return el("p", { class: "empty" }, message);
}
