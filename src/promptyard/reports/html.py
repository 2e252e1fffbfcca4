"""Write a stored run as one self-contained HTML page: summary cards and a filterable matrix.

No network: CSS and script are inline. The trials are embedded once, as a JSON blob in a
`<script type="application/json">`, and the page's script renders the matrix 200 rows at a
time, so a 10,000-trial run opens quickly. The blob is streamed trial by trial; every `<` in
it is written as `\\u003c`, so no user text can close the script element. The script only
ever puts user text into the page through `textContent`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape
from typing import IO, TYPE_CHECKING, Any

from promptyard.core.types import GradingResult, TrialResult
from promptyard.reports.common import format_ci, one_line, output_text, status

if TYPE_CHECKING:
    from promptyard.reports.export import RunInfo

DATA_ID = "promptyard-data"


def script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element (no `<`, so no `</script>` or `<!--`)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def trial_record(trial: TrialResult, column: int) -> dict[str, Any]:
    """The compact form of a trial that the page's script reads (keys kept short on purpose)."""
    return {
        "i": trial.index,
        "c": trial.case_index,
        "s": trial.sample,
        "d": trial.description,
        "k": column,
        "v": trial.vars,
        "p": trial.prompt,
        "o": output_text(trial.output),
        "e": trial.error,
        "st": status(trial),
        "sc": trial.score,
        "ms": round(trial.latency_ms, 1),
        "$": trial.cost,
        "tk": trial.usage.total,
        "a": _assertions(trial.grading.component_results if trial.grading else [], 0),
    }


def _assertions(results: list[GradingResult], depth: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in results:
        kind = r.assertion.type if r.assertion is not None else "assertion"
        out.append({"t": kind, "ok": r.passed, "sc": r.score, "r": r.reason, "n": depth})
        out.extend(_assertions(r.component_results, depth + 1))
    return out


def write_html(run: RunInfo, trials: Iterable[TrialResult], out: IO[str]) -> None:
    summary = run.summary or {}
    title = str(run.description or (run.config or {}).get("description") or "Promptyard run")
    out.write(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(one_line(title, 120))} · Promptyard</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<header>\n"
        f"<h1>{escape(title)}</h1>\n"
        f'<p class="meta">Run <code>{escape(run.id)}</code> · {escape(run.status)} · '
        f"{escape(run.created_at)}{_totals(summary)}</p>\n</header>\n"
    )
    _write_cards(summary, out)
    out.write(_CONTROLS)
    out.write(f'<script type="application/json" id="{DATA_ID}">{{"trials":[')
    # A column is a prompt x provider, as in the summary: two providers may share an id and
    # differ by label (one model at two temperatures), so the label is part of the key.
    columns: dict[tuple[str, str, str], int] = {}
    labels: list[dict[str, str]] = []
    for n, trial in enumerate(trials):
        key = (trial.prompt_id, trial.provider_id, trial.provider_label)
        column = columns.get(key)
        if column is None:
            column = columns[key] = len(labels)
            labels.append({"prompt": trial.prompt_label, "provider": trial.provider_label})
        if n:
            out.write(",\n")
        out.write(script_json(trial_record(trial, column)))
    out.write(f'],\n"columns":{script_json(labels)}}}</script>\n')
    out.write(f"<script>{_JS}</script>\n</body>\n</html>\n")


def _totals(summary: dict[str, Any]) -> str:
    if not summary:
        return ""
    total, passed = summary.get("total", 0), summary.get("passed", 0)
    rate = 100 * summary.get("pass_rate", passed / total if total else 0.0)
    return escape(
        f" · {passed}/{total} passed ({rate:.1f}%), {summary.get('failed', 0)} failed, "
        f"{summary.get('errors', 0)} errors, ${summary.get('cost', 0.0):.6f}"
    )


def _write_cards(summary: dict[str, Any], out: IO[str]) -> None:
    pairs: list[dict[str, Any]] = summary.get("pairs") or []
    out.write('<section class="cards">\n')
    for p in pairs:
        latency = p.get("latency_ms") or {}
        tokens = p.get("tokens") or {}
        ci = format_ci(p.get("pass_rate_ci"))
        prompt = str(p.get("prompt_label", ""))
        rate = 100 * float(p.get("pass_rate", 0.0))
        stats = [
            ("pass rate", f"{rate:.1f}%" + (f" (95% CI {ci})" if ci else "")),
            ("passed", f"{p.get('passed', 0)}/{p.get('total', 0)}, {p.get('errors', 0)} errors"),
            ("mean score", f"{float(p.get('mean_score', 0.0)):.3f}"),
            ("cost", f"${float(p.get('cost', 0.0)):.6f}"),
            ("tokens", str(tokens.get("total", 0) if isinstance(tokens, dict) else tokens)),
            ("latency p50 / p95", f"{_ms(latency.get('p50'))} / {_ms(latency.get('p95'))} ms"),
        ]
        out.write(
            f'<div class="card"><h2 title="{escape(prompt)}">{escape(one_line(prompt, 80))}</h2>'
            f'<p class="provider">{escape(str(p.get("provider_label", "")))}</p>'
            f'<div class="bar"><span style="width:{rate:.1f}%"></span></div><dl>'
        )
        for name, value in stats:
            out.write(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>")
        out.write("</dl></div>\n")
    out.write("</section>\n")


def _ms(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, (int, float)) else "-"


_CONTROLS = """<section class="controls">
<label>Show <select id="f-status">
<option value="all">all cases</option><option value="fail">with a failure</option>
<option value="error">with an error</option><option value="pass">with a pass</option>
</select></label>
<label>Search <input id="f-search" type="search"
placeholder="description, vars, output, reason"></label>
<span id="f-info"></span>
<button id="f-prev" type="button">&larr; Prev</button>
<button id="f-next" type="button">Next &rarr;</button>
</section>
<div class="scroll"><table id="matrix"><thead></thead><tbody></tbody></table></div>
"""

_CSS = """
:root{--bg:#fff;--fg:#1d2127;--muted:#5d6673;--line:#d9dee5;--card:#f6f8fa;
--pass:#1a7f37;--fail:#cf222e;--error:#9a6700;--accent:#0969da;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#8d96a0;
--line:#30363d;--card:#161b22;--pass:#3fb950;--fail:#f85149;--error:#d29922;--accent:#4493f8}}
*{box-sizing:border-box}
body{margin:0;padding:1rem 1.5rem;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
h1{font-size:1.4rem;margin:0 0 .25rem}.meta{color:var(--muted);margin:0 0 1rem}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
pre{white-space:pre-wrap;word-break:break-word;background:var(--card);padding:.5rem;
border:1px solid var(--line);border-radius:4px;margin:.25rem 0;max-height:24rem;overflow:auto}
.cards{display:flex;flex-wrap:wrap;gap:.75rem;margin-bottom:1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.75rem;
width:18rem;max-width:100%}
.card h2{font-size:1rem;margin:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.card .provider{color:var(--muted);margin:0 0 .5rem}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:.1rem .75rem;margin:.5rem 0 0}
.card dt{color:var(--muted)}.card dd{margin:0;text-align:right}
.bar{height:6px;background:var(--fail);border-radius:3px;overflow:hidden}
.bar span{display:block;height:100%;background:var(--pass)}
.controls{display:flex;flex-wrap:wrap;gap:.75rem;align-items:center;margin-bottom:.5rem}
input,select,button{font:inherit;color:inherit;background:var(--card);
border:1px solid var(--line);border-radius:4px;padding:.2rem .4rem}
#f-search{width:18rem;max-width:100%}#f-info{color:var(--muted)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid var(--line);padding:.35rem .5rem;vertical-align:top;text-align:left}
th{background:var(--card);position:sticky;top:0}
th .provider{color:var(--muted);font-weight:normal}
td.case{max-width:16rem}td.case .vars{color:var(--muted);font-size:12px}
td.cell{min-width:12rem;max-width:28rem}
.badge{font-weight:600;font-size:11px;padding:0 .35rem;border-radius:3px;color:#fff}
.pass .badge{background:var(--pass)}.fail .badge{background:var(--fail)}
.error .badge{background:var(--error)}
.num{color:var(--muted);font-size:12px;margin-left:.35rem;white-space:nowrap}
summary{cursor:pointer;color:var(--fg);word-break:break-word}
ul.asserts{list-style:none;padding:0;margin:.25rem 0}
ul.asserts li{margin:.15rem 0}ul.asserts .ok{color:var(--pass)}ul.asserts .no{color:var(--fail)}
h3{font-size:12px;color:var(--muted);margin:.5rem 0 0}
@media (max-width:600px){body{padding:.75rem}.card{width:100%}td.case{min-width:8rem}
td.cell{min-width:14rem}}
"""

_JS = """
(function () {
  "use strict";
  var PAGE = 200, CUT = 140;
  var data = JSON.parse(document.getElementById("promptyard-data").textContent);
  var cols = data.columns, rows = [], byKey = new Map(), repeated = false;
  data.trials.forEach(function (t) {
    var key = t.c + "/" + t.s, row = byKey.get(key);
    if (t.s > 0) { repeated = true; }
    if (!row) {
      row = {c: t.c, s: t.s, d: t.d, v: t.v, cells: [], st: {}, text: null};
      byKey.set(key, row);
      rows.push(row);
    }
    row.cells[t.k] = t;
    row.st[t.st] = true;
  });
  var $ = function (id) { return document.getElementById(id); };
  var statusSel = $("f-status"), search = $("f-search"), info = $("f-info");
  var prev = $("f-prev"), next = $("f-next"), table = $("matrix");
  var tbody = table.tBodies[0], shown = rows, page = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function cut(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + "\\u2026" : s; }
  function haystack(row) {
    if (row.text === null) {
      var parts = [row.d || "", "case " + row.c, JSON.stringify(row.v)];
      row.cells.forEach(function (t) {
        if (t) {
          parts.push(t.o, t.e || "");
          t.a.forEach(function (a) { if (!a.ok) { parts.push(a.r); } });
        }
      });
      row.text = parts.join("\\n").toLowerCase();
    }
    return row.text;
  }
  function fill(box, t) {
    if (t.e) { box.appendChild(el("h3", "", "error")); box.appendChild(el("pre", "", t.e)); }
    box.appendChild(el("h3", "", "output"));
    box.appendChild(el("pre", "", t.o));
    box.appendChild(el("h3", "", "rendered prompt"));
    box.appendChild(el("pre", "", t.p));
    if (t.a.length) {
      box.appendChild(el("h3", "", "assertions"));
      var ul = el("ul", "asserts");
      t.a.forEach(function (a) {
        var li = el("li");
        li.style.paddingLeft = (a.n * 1.25) + "rem";
        li.appendChild(el("span", a.ok ? "ok" : "no", a.ok ? "\\u2713 " : "\\u2717 "));
        li.appendChild(el("code", "", a.t));
        li.appendChild(document.createTextNode(" (" + a.sc.toFixed(2) + ") " + a.r));
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
  }
  function cell(t) {
    var td = el("td", "cell");
    if (!t) { td.textContent = "\\u2014"; return td; }
    td.classList.add(t.st);
    td.appendChild(el("span", "badge", t.st.toUpperCase()));
    td.appendChild(el("span", "num", "score " + t.sc.toFixed(2)));
    td.appendChild(el("span", "num", t.ms.toFixed(0) + " ms"));
    if (t["$"] !== null) { td.appendChild(el("span", "num", "$" + t["$"].toFixed(6))); }
    var det = el("details"), box = el("div");
    det.appendChild(el("summary", "", cut(t.e || t.o || "(empty output)", CUT)));
    det.appendChild(box);
    det.addEventListener("toggle", function () {
      if (det.open && !box.firstChild) { fill(box, t); }
    });
    td.appendChild(det);
    return td;
  }
  function header() {
    var tr = el("tr");
    tr.appendChild(el("th", "", "case"));
    cols.forEach(function (c) {
      var th = el("th");
      th.title = c.prompt + " \\u00d7 " + c.provider;
      th.appendChild(el("div", "", cut(c.prompt, 60)));
      th.appendChild(el("div", "provider", c.provider));
      tr.appendChild(th);
    });
    table.tHead.appendChild(tr);
  }
  function render() {
    var pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    var start = page * PAGE, end = Math.min(shown.length, start + PAGE);
    var frag = document.createDocumentFragment();
    for (var i = start; i < end; i++) {
      var row = shown[i], tr = el("tr"), first = el("td", "case");
      var name = row.d || ("case " + row.c);
      first.appendChild(el("div", "", repeated ? name + " [sample " + row.s + "]" : name));
      first.appendChild(el("div", "vars", cut(JSON.stringify(row.v), CUT)));
      tr.appendChild(first);
      for (var k = 0; k < cols.length; k++) { tr.appendChild(cell(row.cells[k])); }
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    info.textContent = shown.length ? (start + 1) + "\\u2013" + end + " of " + shown.length +
      " cases (" + rows.length + " in all), page " + (page + 1) + "/" + pages :
      "no case matches (" + rows.length + " in all)";
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  function apply() {
    var st = statusSel.value, q = search.value.trim().toLowerCase();
    shown = rows.filter(function (r) {
      return (st === "all" || r.st[st]) && (!q || haystack(r).indexOf(q) >= 0);
    });
    page = 0;
    render();
  }
  var timer = 0;
  statusSel.addEventListener("change", apply);
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 150);
  });
  prev.addEventListener("click", function () { page--; render(); });
  next.addEventListener("click", function () { page++; render(); });
  header();
  render();
})();
"""
