// /tokens: an admin creates API tokens (the secret is shown once, with a copy button), lists
// them and revokes them. A token without the admin scope gets a message instead; with auth
// off the tokens are listed, and the page says they are not checked.
import { api, pageData, token } from "../api.js";
import { clear, el, empty, guarded, showBanner } from "../dom.js";
import { when } from "../format.js";

const app = document.getElementById("app");
const SCOPES = ["read", "write", "admin"];

function field(id, text, control) {
  return el("div", {}, el("label", { for: id }, text), control);
}

function createForm(onCreated) {
  const name = el("input", { id: "token-name", name: "name", required: true, maxlength: 100,
    autocomplete: "off", placeholder: "ci, alice, nightly-evals" });
  const scope = el("select", { id: "token-scope", name: "scope" },
    SCOPES.map((s) => el("option", { value: s }, s)));
  const kind = el("select", { id: "token-kind", name: "kind" },
    ["personal", "service"].map((k) => el("option", { value: k }, k)));
  const form = el("form", { id: "create", class: "card" },
    el("div", { class: "row" }, field("token-name", "Name", name),
      field("token-scope", "Scope", scope), field("token-kind", "Kind", kind),
      el("button", { type: "submit" }, "Create token")),
    el("p", { class: "muted" }, "read: see everything; write: also start jobs and edit prompts " +
      "and datasets; admin: also manage tokens."));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const body = { name: name.value.trim(), scopes: [scope.value], kind: kind.value };
      const created = await api("/tokens", { method: "POST", body });
      form.reset();
      await onCreated(created);
    });
  });
  return form;
}

// The one time the secret exists outside the server's hash: show it with a copy button.
function secretCard(created) {
  const input = el("input", { id: "secret", readonly: true, value: created.secret, size: 50,
    spellcheck: "false", autocomplete: "off" });
  const status = el("span", { class: "muted", role: "status" });
  const copy = el("button", { type: "button", id: "copy" }, "Copy");
  copy.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(created.secret);
      status.textContent = "Copied.";
    } catch {
      status.textContent = "Copying was refused: the secret is selected, copy it with Ctrl+C.";
    }
  });
  return el("div", { class: "card", id: "new-secret" },
    el("p", {}, el("strong", {}, `Token “${created.name}” is created. Copy its secret now: `),
      "it is not stored and cannot be shown again."),
    el("label", { for: "secret" }, "Secret"),
    el("div", { class: "row" }, input, copy, status));
}

function mine(t) {
  return !t.revoked_at && (token() || "").startsWith(t.prefix);
}

function revokeButton(t, reload) {
  const button = el("button", { type: "button", class: "danger", "aria-label": `Revoke ${t.name}` },
    "Revoke");
  button.addEventListener("click", () => {
    const warn = mine(t) ? " This is the token this browser uses: you will be logged out." : "";
    if (!confirm(`Revoke the token “${t.name}”? Programs using it will be refused.${warn}`)) return;
    guarded(async () => {
      await api(`/tokens/${encodeURIComponent(t.id)}`, { method: "DELETE" });
      showBanner(`Token “${t.name}” is revoked.`, { ok: true });
      await reload();
    });
  });
  return button;
}

function tokenTable(tokens, reload) {
  if (!tokens.length) return empty("No tokens yet.");
  const head = ["Name", "Scope", "Kind", "Starts with", "Created", "Last used", "Status", ""];
  const narrow = new Set(["Kind", "Created"]);
  return el("div", { class: "scroll-x" }, el("table", { id: "tokens" },
    el("thead", {}, el("tr", {}, head.map((h) =>
      el("th", { scope: "col", class: narrow.has(h) ? "hide-narrow" : null }, h)))),
    el("tbody", {}, tokens.map((t) => el("tr", { class: t.revoked_at ? "muted" : null },
      el("td", {}, t.name, mine(t) ? el("span", { class: "tag" }, "this browser") : null),
      el("td", {}, t.scopes.join(", ")),
      el("td", { class: "hide-narrow" }, t.kind), el("td", {}, el("code", {}, `${t.prefix}…`)),
      el("td", { class: "hide-narrow" }, when(t.created_at)), el("td", {}, when(t.last_used_at)),
      el("td", {}, t.revoked_at ? `revoked ${when(t.revoked_at)}` : "active"),
      el("td", {}, t.revoked_at ? null : revokeButton(t, reload)))))));
}

guarded(async () => {
  const list = el("div", { id: "token-list" });
  const fresh = el("div", { "aria-live": "polite" });
  const reload = async () => {
    clear(list).append(tokenTable(await api("/tokens"), reload));
  };
  try {
    await reload();
  } catch (err) {
    if (err.status !== 403) throw err;
    clear(app).append(el("p", { class: "card", id: "not-admin" },
      "Managing tokens needs a token with the admin scope, and the one this browser uses ",
      "does not have it. Ask an admin for one, then ",
      el("a", { href: "/login?next=/tokens" }, "log in with it"), "."));
    return;
  }
  const notes = pageData().auth ? [] : [el("p", { class: "card", id: "auth-off" },
    el("strong", {}, "Auth is off on this server: "),
    "requests need no token and every caller acts as an admin, so these tokens are not checked. ",
    "Start the server with ", el("code", {}, "PROMPTYARD_AUTH=true"), " to require them.")];
  const form = createForm(async (created) => {
    clear(fresh).append(secretCard(created));
    await reload();
    document.getElementById("secret").focus();
  });
  clear(app).append(...notes, el("h2", {}, "New token"), form, fresh, el("h2", {}, "Tokens"), list);
});
