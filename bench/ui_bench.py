"""Benchmark the Run page: time to first render of a run with 100,000 results, and the
matrix API behind it.

    python -m bench.ui_bench                    # 100,000 trials, against a 100-trial baseline
    python -m bench.ui_bench --trials 20000     # smaller
    python -m bench.ui_bench --json out.json    # also write the figures as JSON

Writes two runs straight into a temp SQLite store (2 prompts x 2 providers, so 100,000 trials
are 25,000 case rows of 4 cells; one trial in 7 fails an assertion, one in 50 is an error;
outputs of ~200 characters, some non-ASCII; a summary as the engine writes it), starts a real
`promptyard serve` on it, and measures:

- time to first render: headless Debian Chromium opens /runs/<id> in a fresh context (no
  cache) and the page marks `promptyard:matrix-rendered` once the first rows of the matrix
  are in the DOM; the figure is that mark's time since navigation start (median of the loads,
  after one warm-up load that is not counted), and the ratio to the 100-trial run's;
- the matrix API (GET /api/runs/<id>/matrix, 50 rows): first page, last page (deep offset),
  filtered by status, by a failed assertion and by text, sorted by score and by one column's
  cost; plus the assertion facets and one trial's detail. Median and max of sequential calls.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.serverctl import running_server
from promptyard.core.types import Assertion, GradingResult, TokenUsage, TrialResult

PROMPTS = [("p-short", "short answer"), ("p-steps", "step by step")]
PROVIDERS = [("openai:chat:gpt-4.1-mini", "gpt-4.1-mini"), ("anthropic:claude-haiku", "haiku")]
MARK = "promptyard:matrix-rendered"  # run.js marks these
PAGE_MARK = "promptyard:matrix-page"
CREATED = "2026-12-01T00:00:00+00:00"


def make_trials(run_id: str, n_trials: int) -> Iterator[TrialResult]:
    """`n_trials` trials in the plan's order: case, then prompt, then provider."""
    per_case = len(PROMPTS) * len(PROVIDERS)
    for i in range(n_trials):
        case, rest = divmod(i, per_case)
        (pid, plabel), (vid, vlabel) = PROMPTS[rest // 2], PROVIDERS[rest % 2]
        error = "HTTP 529: overloaded after 4 retries" if i % 50 == 49 else None
        passed = error is None and i % 7 != 0
        word = f"w{case}"
        contains = GradingResult(True, 1.0, f"Output contains {word!r}",
                                 assertion=Assertion(type="icontains", value=word))  # fmt: skip
        regex = GradingResult(passed, 1.0 if passed else 0.0,
                              "Output matches" if passed else f"Output does not match ^{word}$",
                              assertion=Assertion(type="regex", value=f"^{word}$"))  # fmt: skip
        grading = None
        if error is None:
            grading = GradingResult(passed, 1.0 if passed else 0.5,
                                    "All assertions passed" if passed else regex.reason,
                                    component_results=[contains, regex])  # fmt: skip
        output = None
        if error is None:
            output = (f"Réponse {i} ({plabel}): the word is {word}. " * 4).strip()
        yield TrialResult(
            run_id=run_id, index=i, case_index=case, case_id=f"case-{case}", prompt_id=pid,
            prompt_label=plabel, provider_id=vid, provider_label=vlabel, sample=0,
            description=f"case {case}: topic {case % 17}",
            vars={"word": word, "topic": f"topic {case % 17}"},
            prompt=f"Answer in one line ({plabel}). Topic {case % 17}. Say {word}.",
            output=output, error=error, grading=grading, success=passed,
            score=1.0 if passed else 0.5 if error is None else 0.0,
            latency_ms=120.0 + (i * 37) % 1900,
            cost=None if error else 2e-5 * (1 + i % 11),
            usage=TokenUsage(42, 31, 73) if error is None else TokenUsage(),
            raw={"id": f"cmpl-{i}", "choices": [{"message": {"content": output}}]},
            created_at=CREATED,
        )  # fmt: skip


def build_run(db: str, n_trials: int, description: str) -> str:
    """A finished run of `n_trials` trials in the store at `db`, with its summary."""
    from promptyard.engine.summary import SummaryBuilder
    from promptyard.store import Store

    run_id = str(uuid.uuid4())
    with Store.open(db) as store:
        store.create_run(
            run_id=run_id, description=description, config={"description": description},
            created_at=CREATED,
            prompts=[{"id": p, "label": label, "raw": label} for p, label in PROMPTS],
            providers=[{"id": v, "label": label} for v, label in PROVIDERS],
        )  # fmt: skip
        summary = SummaryBuilder(repeat=1)
        batch: list[TrialResult] = []
        for trial in make_trials(run_id, n_trials):
            summary.add(trial)
            batch.append(trial)
            if len(batch) == 5000:
                store.add_trials(batch)
                batch = []
        store.add_trials(batch)
        store.finish_run(run_id, status="succeeded", summary=summary.to_dict(),
                         finished_at=CREATED)  # fmt: skip
    return run_id


def first_render(browser: Any, url: str, loads: int) -> list[float]:
    """Milliseconds from navigation start to the matrix's first rows, one per fresh load."""
    times = []
    for n in range(loads + 1):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        try:
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#matrix tbody tr[data-row]", timeout=60_000)
            ms = page.evaluate(f"performance.getEntriesByName({MARK!r})[0].startTime")
        finally:
            context.close()
        if n:  # the first load warms the server and the browser's code cache
            times.append(float(ms))
    return times


def page_turns(browser: Any, url: str, turns: int) -> tuple[list[float], float]:
    """Milliseconds from a click on Next to the next page's rows in the DOM, `turns` times,
    then one jump to the last page."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#matrix tbody tr[data-row]", timeout=60_000)

        def turn(button: str) -> float:
            before = page.evaluate(f"performance.getEntriesByName({PAGE_MARK!r}).length")
            t0 = page.evaluate("performance.now()")
            page.click(button)
            _wait_marks(page, before)
            end = page.evaluate(f"performance.getEntriesByName({PAGE_MARK!r}).at(-1).startTime")
            return float(end) - float(t0)

        nexts = [turn("#p-next") for _ in range(turns)]
        return nexts, turn("#p-last")
    finally:
        context.close()


def _wait_marks(page: Any, before: int) -> None:
    """Poll from here: Playwright's wait_for_function evaluates strings, which the page's CSP
    forbids."""
    deadline = time.monotonic() + 60
    while page.evaluate(f"performance.getEntriesByName({PAGE_MARK!r}).length") <= before:
        if time.monotonic() > deadline:
            raise TimeoutError("the next page did not show within 60 s")
        time.sleep(0.005)


def api_times(client: httpx.Client, path: str, params: dict[str, Any], calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        resp = client.get(path, params=params)
        times.append((time.perf_counter() - t0) * 1000)
        resp.raise_for_status()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--loads", type=int, default=5, help="page loads per run (after a warm-up)")
    parser.add_argument("--calls", type=int, default=10, help="API calls per query")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--db", help="a database URL to use instead of a temp SQLite file "
                        "(e.g. an empty PostgreSQL schema); the runs stay there")  # fmt: skip
    args = parser.parse_args(argv)

    from tests.e2e.browser import launch, missing_browser_reason

    reason = missing_browser_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="ui-bench-") as tmp_name:
        tmp = Path(tmp_name)
        db = args.db or f"sqlite:///{tmp / 'bench.db'}"
        t0 = time.perf_counter()
        small = build_run(db, args.baseline, f"{args.baseline} results")
        big = build_run(db, args.trials, f"{args.trials:,} results")
        print(f"wrote {args.baseline + args.trials:,} trials in {time.perf_counter() - t0:.1f} s")
        rows: list[tuple[str, list[float]]] = []
        with running_server(tmp, db=db) as server, launch() as browser:
            small_fr = first_render(browser, f"{server.url}/runs/{small}", args.loads)
            big_fr = first_render(browser, f"{server.url}/runs/{big}", args.loads)
            rows.append((f"first render, {args.baseline:,}-trial run", small_fr))
            rows.append((f"first render, {args.trials:,}-trial run", big_fr))
            nexts, last_jump = page_turns(browser, f"{server.url}/runs/{big}", args.loads)
            rows.append(("page turn (Next), click to rows", nexts))
            rows.append(("jump to the last page, click to rows", [last_jump]))
            cases = args.trials // (len(PROMPTS) * len(PROVIDERS))
            last = max(0, (cases - 1) // 50 * 50)
            queries: list[tuple[str, str, dict[str, Any]]] = [
                ("matrix: first page", "matrix", {}),
                (f"matrix: last page (offset {last:,})", "matrix", {"offset": last}),
                ("matrix: status=fail", "matrix", {"status": "fail"}),
                ("matrix: assertion=regex (failed)", "matrix", {"assertion": "regex"}),
                ("matrix: q=w2499 (text)", "matrix", {"q": "w2499"}),
                ("matrix: sort=score", "matrix", {"sort": "score"}),
                ("matrix: sort=-cost, column 1", "matrix", {"sort": "-cost", "column": 1}),
                ("assertion facets", "assertions", {}),
                ("one trial (detail)", f"trials/{args.trials // 2}", {}),
            ]
            with httpx.Client(base_url=f"{server.api}/runs/{big}", timeout=60) as client:
                for label, path, params in queries:
                    rows.append((label, api_times(client, path, params, args.calls)))
        ratio = statistics.median(big_fr) / statistics.median(small_fr)
        print()
        backend = db.split(":", 1)[0]
        print(f"Run page, {args.trials:,} trials ({cases:,} cases x 4 columns), {backend}, "
              f"{args.loads} loads / {args.calls} calls each")  # fmt: skip
        print()
        print("| measure | median | min | max |")
        print("|---|---|---|---|")
        for label, values in rows:
            print(f"| {label} | {statistics.median(values):,.0f} ms | {min(values):,.0f} ms "
                  f"| {max(values):,.0f} ms |")  # fmt: skip
        print()
        print(f"first render, {args.trials:,} / {args.baseline:,} trials: {ratio:.2f}x")
        if args.json:
            args.json.write_text(json.dumps({
                "trials": args.trials, "baseline": args.baseline, "ratio": ratio,
                "figures": {label: values for label, values in rows},
            }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
