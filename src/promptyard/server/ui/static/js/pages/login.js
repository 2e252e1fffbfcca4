import { api, pageData, setToken } from "../api.js";
import { guarded, showBanner } from "../dom.js";

const form = document.getElementById("login");
const next = pageData().query.next || "/";
// The button is enabled only now that submitting is handled here: a click before this module
// ran must not submit the form natively (the token would travel in a request).
form.querySelector("button[type=submit]").disabled = false;

form.addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(async () => {
    setToken(form.token.value.trim());
    try {
      await api("/runs", { query: { limit: 1 } }); // any read proves the token works
    } catch (err) {
      setToken(null);
      throw err.status === 401 ? new Error("That token was refused: check it and try again.") : err;
    }
    // Only a path on this site: never an open redirect to another origin.
    location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/");
  });
});

document.getElementById("logout").addEventListener("click", () => {
  setToken(null);
  showBanner("The saved token is forgotten.", { ok: true });
});
