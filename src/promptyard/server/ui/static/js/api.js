// The UI's one door to the server: /api with the bearer token the user logged in with.
// Errors become an Error with the server's `detail` and the HTTP status; a 401 sends the
// user to /login and back here afterwards.

const TOKEN_KEY = "promptyard.token";

export function token() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

export function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  const t = token();
  if (t) out.Authorization = `Bearer ${t}`;
  return out;
}

function toLogin() {
  const next = location.pathname + location.search;
  if (location.pathname !== "/login") location.assign(`/login?next=${encodeURIComponent(next)}`);
}

// `api("/runs", {query: {limit: 10}})`, `api("/prompts", {method: "POST", body: {...}})`.
// A FormData body is sent as multipart; `raw: true` returns the Response (for text bodies).
export async function api(path, { method = "GET", query, body, raw = false, signal } = {}) {
  const url = new URL(`/api${path}`, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
  }
  const init = { method, headers: headers(), signal };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(url, init);
  if (resp.status === 401) {
    toLogin();
    throw new ApiError(401, "log in with a token");
  }
  if (!resp.ok) {
    let detail = resp.statusText;
    try {
      detail = (await resp.json()).detail ?? detail;
    } catch {
      /* not JSON: keep the status text */
    }
    throw new ApiError(resp.status, detail);
  }
  if (raw) return resp;
  return resp.status === 204 ? null : resp.json();
}

// The data the server put in the page: {params, query, auth}.
export function pageData() {
  return JSON.parse(document.getElementById("page-data").textContent);
}
