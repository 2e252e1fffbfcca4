"""Accessibility and usability of every page in PAGES, with real data behind every id, on a
laptop and a phone, in light and dark: no console or page errors, no sideways scrolling on
the phone, the skip link and the nav reachable by Tab, a label for every form control, one h1,
readable text (WCAG AA contrast), and a readable message in #banner when the API says no.

Each test collects every finding for its page before failing, so one run says all that is
wrong with a page."""

from __future__ import annotations

import re
from contextlib import suppress
from typing import TYPE_CHECKING

import httpx
import pytest
from bench.serverctl import ServerProcess
from tests.e2e.browser import LAPTOP, PHONE
from tests.ui.test_ui_compare import CASES, eval_config, make_run, wait_job
from tests.ui.uitools import UiPage, ui_page

from promptyard.server.ui import PAGES

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

VIEWPORTS = {"laptop": LAPTOP, "phone": PHONE}
COMBOS = [(v, s) for v in VIEWPORTS for s in ("light", "dark")]
SETTLE_MS = 5000
MISSING = "does-not-exist"


@pytest.fixture(scope="module")
def samples(ui_server: ServerProcess) -> dict[str, str]:
    """Each PAGES path made concrete with something real behind its id."""
    api = ui_server.api
    run_a, job = make_run(ui_server, eval_config("{{a}}", CASES, "a11y A"))
    run_b, _ = make_run(ui_server, eval_config("{{b}}", CASES, "a11y B"))
    prompt = httpx.post(f"{api}/prompts", json={"name": "a11y-prompt", "template": "Say {{w}}"})
    rows = [{"vars": {"w": f"w{i}"}, "assert": [{"type": "contains", "value": f"w{i}"}]}
            for i in range(4)]  # fmt: skip
    dataset = httpx.post(f"{api}/datasets", json={"name": "a11y-cases", "rows": rows})
    assert (prompt.status_code, dataset.status_code) == (201, 201), prompt.text + dataset.text
    config = {"prompts": ["Answer: {{w}}"], "providers": ["echo"], "tests": rows * 3}
    opt = httpx.post(f"{api}/optimize", json={"config": config, "optimizer": "fewshot",
                                              "options": {"max_cycles": 1}})  # fmt: skip
    assert opt.status_code == 202, opt.text
    wait_job(ui_server, opt.json()["job_id"])
    return {
        "/prompts/{name}": "/prompts/a11y-prompt",
        "/datasets/{name}": "/datasets/a11y-cases",
        "/runs/{run_id}": f"/runs/{run_a}",
        "/compare": f"/compare?runs={run_a},{run_b}&baseline={run_a}",
        "/jobs/{job_id}": f"/jobs/{job}",
        "/optimizations/{job_id}": f"/optimizations/{opt.json()['job_id']}",
    }


def concrete(path: str, samples: dict[str, str]) -> str:
    if path in samples:
        return samples[path]
    if "{" in path:
        pytest.fail(f"no sample data for {path}: add a real id for it to `samples`")
    return path


def describe(js_element: str) -> str:
    """JS: a short name for element `e` (tag#id.class)."""
    return (f"{js_element}.tagName.toLowerCase() + ({js_element}.id ? '#' + {js_element}.id : '')"
            f" + ({js_element}.className && typeof {js_element}.className === 'string'"
            f" ? '.' + {js_element}.className.trim().split(/\\s+/).join('.') : '')")  # fmt: skip


UNLABELLED = f"""() => {{
  const named = (e) => {{
    const by = (e.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean)
      .map((id) => (document.getElementById(id) || {{}}).textContent || "").join("");
    const labels = [...(e.labels || [])].map((l) => l.textContent).join("");
    const own = e.tagName === "BUTTON" ? e.textContent
      : ["submit", "button", "reset"].includes(e.type) ? e.value : "";
    return (by + (e.getAttribute("aria-label") || "") + labels + own).trim() !== "";
  }};
  return [...document.querySelectorAll("input, select, textarea, button")]
    .filter((e) => e.type !== "hidden" && !named(e)).map((e) => {describe("e")});
}}"""

OVERFLOW = f"""() => {{
  const width = window.innerWidth, total = document.scrollingElement.scrollWidth;
  if (total <= width + 1) return null;
  const clipped = (e) => {{
    for (let p = e.parentElement; p; p = p.parentElement)
      if (["auto", "scroll", "hidden"].includes(getComputedStyle(p).overflowX)) return true;
    return false;
  }};
  const wide = [...document.body.querySelectorAll("*")]
    .filter((e) => e.getBoundingClientRect().right > width + 1 && !clipped(e));
  const outer = wide.filter((e) => !wide.includes(e.parentElement)).slice(0, 4);
  return `scrollWidth ${{total}} > ${{width}}: ` + outer.map((e) => {describe("e")}).join(", ");
}}"""

# WCAG 2 contrast of every visible text against the backgrounds behind it (solid colours).
CONTRAST = f"""() => {{
  const rgba = (s) => {{
    const m = /^rgba?\\(([^)]+)\\)$/.exec(s);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }};
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3]));
  const lum = (c) => c.map((v) => {{ v /= 255; return v <= 0.03928 ? v / 12.92
    : ((v + 0.055) / 1.055) ** 2.4; }}).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = (e) => {{
    const layers = [];
    for (let n = e; n; n = n.parentElement) {{
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) layers.push(c);
      if (c && c[3] >= 1) break;
    }}
    return layers.reverse().reduce((bg, c) => over(c, bg), [255, 255, 255]);
  }};
  const seen = new Set(), out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walk.nextNode(); t; t = walk.nextNode()) {{
    const e = t.parentElement;
    if (!t.textContent.trim() || !e || seen.has(e)) continue;
    seen.add(e);
    if (e.closest("svg, option, script, :disabled") || !e.getClientRects().length) continue;
    const style = getComputedStyle(e);
    if (style.visibility !== "visible") continue;
    const bg = behind(e), fg = rgba(style.color);
    if (!fg) continue;
    const [a, b] = [lum(over(fg, bg)), lum(bg)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const need = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    const key = {describe("e")} + style.color + bg;
    if (ratio < need && !seen.has(key)) {{
      seen.add(key);
      out.push(`${{{describe("e")}}} "${{t.textContent.trim().slice(0, 24)}}" ` +
        `${{ratio.toFixed(2)}}:1 (needs ${{need}}:1)`);
    }}
  }}
  return out.slice(0, 6);
}}"""


def settle(page: Page) -> str | None:
    """Wait for the page's data to arrive; a finding if it never does."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => !document.querySelector('main').innerText.includes('Loading…')",
            timeout=SETTLE_MS,
        )
    except PlaywrightTimeout:
        return f"still says “Loading…” after {SETTLE_MS // 1000} s"
    with suppress(PlaywrightTimeout):  # an open event stream never idles: that is fine
        page.wait_for_load_state("networkidle", timeout=2000)
    return None


def keyboard(page: Page) -> list[str]:
    """The first Tab reaches a visible skip link that moves focus to <main>; Tab then walks
    through every nav link, with a visible focus ring."""
    out = []
    page.keyboard.press("Tab")
    focused = page.evaluate(f"(e => {describe('e')})(document.activeElement)")
    if focused != "a.skip":
        out.append(f"the first Tab reaches {focused}, not the skip link")
    elif not page.evaluate("""(() => { const r = document.activeElement.getBoundingClientRect();
            return r.width > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth; })()"""):
        out.append("the focused skip link is off screen")
    nav = page.evaluate("[...document.querySelectorAll('header nav a')].map(a => a.href)")
    reached: dict[str, str] = {}
    for _ in range(len(nav) + 4):
        page.keyboard.press("Tab")
        href, outline = page.evaluate("""[document.activeElement.closest('header nav')
            ? document.activeElement.href : null, getComputedStyle(document.activeElement)
            .outlineStyle]""")  # fmt: skip
        if href:
            reached[href] = outline
    if not nav:
        out.append("no links in <header><nav>")
    if missing := [h for h in nav if h not in reached]:
        out.append(f"Tab does not reach the nav links {missing}")
    if unringed := [h for h, o in reached.items() if o == "none"]:
        out.append(f"no focus ring on the nav links {unringed}")
    if page.locator("a.skip").count():
        page.focus("a.skip")
        page.keyboard.press("Enter")
        if page.evaluate("document.activeElement.id") != "main":
            out.append("the skip link does not move focus to <main id=main>")
    return out


def audit(ui: UiPage, *, phone: bool) -> list[str]:
    page, findings = ui.page, []
    if problem := settle(page):
        findings.append(problem)
    h1 = page.evaluate("[...document.querySelectorAll('h1')].map(h => h.innerText.trim())")
    if len(h1) != 1 or not h1[0] or h1[0] in ("undefined", "null"):
        findings.append(f"wants one h1 with text, has {h1}")
    if unlabelled := page.evaluate(UNLABELLED):
        findings.append(f"form controls without a label: {unlabelled}")
    if phone and (overflow := page.evaluate(OVERFLOW)):
        findings.append(f"the page scrolls sideways: {overflow}")
    if low := page.evaluate(CONTRAST):
        findings.append(f"text below WCAG AA contrast: {low}")
    return findings


@pytest.mark.parametrize("combo", COMBOS, ids=["-".join(c) for c in COMBOS])
@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_is_accessible(
    browser: Browser,
    ui_server: ServerProcess,
    samples: dict[str, str],
    path: str,
    combo: tuple[str, str],
) -> None:
    viewport, scheme = combo
    with ui_page(browser, ui_server.url, viewport=VIEWPORTS[viewport],
                 color_scheme=scheme) as ui:  # fmt: skip
        ui.goto(concrete(path, samples))
        findings = audit(ui, phone=viewport == "phone")
        if (path, combo) == ("/", ("laptop", "dark")):
            ui.screenshot("home-dark")  # ui-run-phone.png is test_ui_run.py's
        findings += keyboard(ui.page)
        findings += [f"page error: {e}" for e in ui.page_errors]
        findings += [f"console error: {e}" for e in ui.console_errors]
        findings += [f"request to another origin: {u}" for u in ui.foreign]
    assert findings == [], f"{path} ({viewport}, {scheme}):\n  " + "\n  ".join(findings)


WITH_IDS = [p for p in PAGES if "{" in p] + ["/compare"]


@pytest.mark.parametrize("path", WITH_IDS)
def test_an_api_error_reads_well_in_the_banner(
    browser: Browser, ui_server: ServerProcess, path: str
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    url = re.sub(r"\{[^}]+\}", MISSING, path)
    if path == "/compare":
        url += f"?runs={MISSING},{MISSING}-either"
    with ui_page(browser, ui_server.url, expected_errors=("404",)) as ui:
        ui.goto(url)
        try:
            ui.page.wait_for_selector("#banner:not([hidden])", timeout=SETTLE_MS)
        except PlaywrightTimeout:
            pytest.fail(f"{url}: the unknown id shows no message in #banner")
        text = ui.page.inner_text("#banner").strip()
        assert ui.page.get_attribute("#banner", "role") == "alert"
        findings = [f"says {bad!r}" for bad in ("[object", "undefined", "{", "Traceback")
                    if bad in text]  # fmt: skip
        if MISSING not in text and "not found" not in text.lower():
            findings.append("does not name what was not found")
        if len(text) > 300:
            findings.append(f"is {len(text)} characters long")
        if re.search(r"sqlite:|postgres(ql)?(\+\w+)?:", text):
            findings.append("shows the database URL")
        ui.assert_clean()
    assert findings == [], f"{url}: the banner {'; '.join(findings)}: {text!r}"


BROKEN = """<!doctype html><html><body style="margin:0"><main id="main">
  <h1>One</h1><h1>Two</h1>
  <input id="q"><select><option>x</option></select><button></button>
  <div style="width:2000px">wide</div>
  <p style="color:#aaaaaa;background:#ffffff">faint text</p>
</main></body></html>"""


def test_the_audit_finds_what_it_looks_for(browser: Browser, ui_server: ServerProcess) -> None:
    """Each check fails on a page made to break it (so a clean page means something)."""
    with ui_page(browser, ui_server.url, viewport=PHONE) as ui:
        ui.page.set_content(BROKEN)
        found = "\n".join(audit(ui, phone=True) + keyboard(ui.page))
    assert "wants one h1 with text, has ['One', 'Two']" in found
    assert "form controls without a label: ['input#q', 'select', 'button']" in found
    assert "the page scrolls sideways: scrollWidth 2000 > 390: div" in found
    assert 'p "faint text" 2.32:1 (needs 4.5:1)' in found
    assert "not the skip link" in found and "no links in <header><nav>" in found
