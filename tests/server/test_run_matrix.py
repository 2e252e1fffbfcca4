"""The results matrix API over real HTTP (SQLite, and PostgreSQL where reachable):
GET /api/runs/{id}/matrix (pages of case rows, filters, order, counts), /assertions (facets)
and /trials/{index} (one whole trial). Runs are written straight into the server's store, so
every status, score, cost and latency is known."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server
from tests.pgtools import pg_schema_url

from promptyard.core.types import Assertion, GradingResult, TokenUsage, TrialResult
from promptyard.engine.summary import SummaryBuilder
from promptyard.store import Store
from promptyard.store.matrix import PREVIEW_CHARS, preview

HOSTILE = "<img src=x onerror=alert(1)>"
PROMPTS = [("p1", "plain"), ("p2", "fancy")]
# One provider id twice with two labels: the label is part of a column's identity.
PROVIDERS = [("echo", "echo-a"), ("echo", "echo-b")]
COLUMNS = [(p, v) for p in PROMPTS for v in PROVIDERS]  # the plan's order
CREATED = "2026-12-01T00:00:00+00:00"
LONG = "long output " * 300


def verdict(kind: str, passed: bool, reason: str, value: Any = None) -> GradingResult:
    return GradingResult(passed, 1.0 if passed else 0.0, reason,
                         assertion=Assertion(type=kind, value=value))  # fmt: skip


def make_trial(
    run_id: str, case: int, col: int, *, sample: int = 0, samples: int = 1
) -> TrialResult:
    """Case c, column k of the reference run (six cases, four columns); see the table in
    each test for what is special where."""
    (pid, plabel), (vid, vlabel) = COLUMNS[col]
    output: Any = f"hello w{case}"
    error = None
    checks = [verdict("icontains", True, f"Output contains w{case}", f"w{case}")]
    if case == 1 and col == 1:
        checks.append(verdict("regex", False, "Output does not match ^w1$", "^w1$"))
    elif case == 3 and col == 0:
        output = f"{HOSTILE} Ünïcode says hi"
        checks = [verdict("icontains", False, "needle 100% missing", "needle")]
    elif case == 4 and col == 3:
        output = LONG
    elif case == 5:
        output = {"answer": "café", "n": 5}
    if case == 2 and col == 2:
        output, error, checks = None, "HTTP 529 overloaded", []
    passed = error is None and all(c.passed for c in checks)
    grading = None
    if error is None:
        grading = GradingResult(passed, 1.0 if passed else 0.0,
                                "All assertions passed" if passed else checks[-1].reason,
                                component_results=checks)  # fmt: skip
    score = 1.0 if passed else 0.0 if error else 0.25 + 0.1 * col
    return TrialResult(
        run_id=run_id, index=(case * len(COLUMNS) + col) * samples + sample, case_index=case,
        case_id=f"c{case}", prompt_id=pid, prompt_label=plabel, provider_id=vid,
        provider_label=vlabel, sample=sample,
        description="greeting five" if case == 5 else f"case number {case}",
        vars={"word": f"w{case}", "topic": f"topic-{case}-x"},
        prompt=f"Say w{case} ({plabel})", output=output, error=error, grading=grading,
        success=passed, score=score,
        latency_ms=5000.0 if (case, col) == (2, 2) else 100.0 + 10 * case + col,
        cost=None if (case, col) == (4, 3) else 0.001 * (case + 1) + 0.0001 * col,
        usage=TokenUsage(3, 2, 5), raw={"id": f"r{case}-{col}", "note": HOSTILE},
        created_at=CREATED,
    )  # fmt: skip


def write_run(
    store: Store,
    trials: list[TrialResult],
    run_id: str,
    *,
    finish: bool = True,
    record_columns: bool = True,
) -> str:
    store.create_run(
        run_id=run_id, description="matrix test", config={}, created_at=CREATED,
        prompts=[{"id": p, "label": label} for p, label in PROMPTS] if record_columns else [],
        providers=[{"id": v, "label": label} for v, label in PROVIDERS] if record_columns else [],
    )  # fmt: skip
    store.add_trials(trials)
    if finish:
        summary = SummaryBuilder(repeat=1)
        for t in trials:
            summary.add(t)
        store.finish_run(run_id, status="succeeded", summary=summary.to_dict(),
                         finished_at=CREATED)  # fmt: skip
    return run_id


@dataclass
class World:
    server: ServerProcess
    main: str  # six cases x four columns, finished with a summary
    repeated: str  # two cases x one column x two samples
    live: str  # running, no summary, a record without prompts/providers
    empty: str  # no trials
    scattered: str  # three cases x four columns, indexes far from the plan's order

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.server.api}{path}", params=params, timeout=30)

    def matrix(self, run: str | None = None, **params: Any) -> dict[str, Any]:
        resp = self.get(f"/runs/{run or self.main}/matrix", **params)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One server per backend for the module; the runs are only read."""
    tmp: Path = tmp_path_factory.mktemp("matrix")
    with contextlib.ExitStack() as stack:
        db = f"sqlite:///{tmp / 'server.db'}"
        if request.param == "postgres":
            db = stack.enter_context(pg_schema_url("run_matrix"))
        server = stack.enter_context(running_server(tmp, db=db))
        with Store.open(server.db) as store:
            ids = [str(uuid.uuid4()) for _ in range(5)]
            main = [make_trial(ids[0], c, k) for c in range(6) for k in range(4)]
            repeated = [make_trial(ids[1], c, 0, sample=s, samples=2)
                        for c in range(2) for s in range(2)]  # fmt: skip
            live = [make_trial(ids[2], c, k) for c in range(3) for k in (0, 3)]
            write_run(store, main, ids[0])
            write_run(store, repeated, ids[1])
            write_run(store, live, ids[2], finish=False, record_columns=False)
            write_run(store, [], ids[3])
            scattered = [make_trial(ids[4], c, k) for c in range(3) for k in range(4)]
            for trial in scattered:  # column-major and sparse: 0, 1, 2, 5000, 5001, ...
                trial.index = (trial.index % 4) * 5000 + trial.case_index
            write_run(store, scattered, ids[4])
        yield World(server, *ids)


def cases(body: dict[str, Any]) -> list[int]:
    return [r["case_index"] for r in body["rows"]]


# -- the page ---------------------------------------------------------------------------------


def test_first_page_lays_trials_out_as_cases_by_columns(world: World) -> None:
    body = world.matrix()
    assert (body["total"], body["cases"], body["offset"], body["limit"]) == (6, 6, 0, 50)
    assert body["repeated"] is False
    cols = body["columns"]
    assert [(c["prompt_label"], c["provider_label"]) for c in cols] == [
        ("plain", "echo-a"), ("plain", "echo-b"), ("fancy", "echo-a"), ("fancy", "echo-b")
    ]  # fmt: skip
    assert cases(body) == [0, 1, 2, 3, 4, 5]
    for row in body["rows"]:
        assert len(row["cells"]) == 4
        # every cell is the trial of its own case and column
        assert [c["index"] for c in row["cells"]] == [row["case_index"] * 4 + k for k in range(4)]
        assert all(c["match"] for c in row["cells"])
    row1 = body["rows"][1]
    assert row1["description"] == "case number 1"
    assert '"topic": "topic-1-x"' in row1["vars"]
    assert [c["status"] for c in row1["cells"]] == ["pass", "fail", "pass", "pass"]
    fail = row1["cells"][1]
    assert fail["score"] == pytest.approx(0.35) and fail["cost"] == pytest.approx(0.0021)
    assert fail["latency_ms"] == 111.0 and fail["tokens"] == 5 and fail["output"] == "hello w1"
    error = body["rows"][2]["cells"][2]
    assert error["status"] == "error" and error["error"] == "HTTP 529 overloaded"
    assert error["output"] == ""


def test_columns_carry_their_summary_with_a_pass_rate_interval(world: World) -> None:
    cols = world.matrix()["columns"]
    stats = [c["stats"] for c in cols]
    assert [s["total"] for s in stats] == [6, 6, 6, 6]
    assert [s["passed"] for s in stats] == [5, 5, 5, 6]
    assert [s["errors"] for s in stats] == [0, 0, 1, 0]
    low, high = stats[3]["pass_rate_ci"]
    assert 0.5 < low < 1.0 and high == 1.0  # 6 of 6: the Wilson interval's upper bound is 1
    assert stats[0]["latency_ms"]["p50"] is not None and not cols[0]["live"]


def test_previews_are_cut_and_read_as_text(world: World) -> None:
    rows = world.matrix()["rows"]
    hostile = rows[3]["cells"][0]["output"]
    assert hostile == f"{HOSTILE} Ünïcode says hi"  # as the model wrote it, not escaped
    long = rows[4]["cells"][3]["output"]
    assert len(long) == PREVIEW_CHARS and long.endswith("…") and long.startswith("long output")
    assert rows[5]["cells"][0]["output"] == '{"answer": "café", "n": 5}'


def test_pages_cut_the_rows_and_keep_the_counts(world: World) -> None:
    first = world.matrix(limit=4)
    second = world.matrix(limit=4, offset=4)
    past = world.matrix(limit=4, offset=8)
    assert cases(first) == [0, 1, 2, 3] and cases(second) == [4, 5] and cases(past) == []
    assert (past["total"], past["cases"]) == (6, 6)
    assert len(past["columns"]) == 4


# -- filters ----------------------------------------------------------------------------------


def test_status_filter_keeps_rows_with_such_a_trial_and_marks_those_cells(world: World) -> None:
    fails = world.matrix(status="fail")
    assert cases(fails) == [1, 3] and (fails["total"], fails["cases"]) == (2, 6)
    assert [c["match"] for c in fails["rows"][0]["cells"]] == [False, True, False, False]
    assert cases(world.matrix(status="error")) == [2]
    assert cases(world.matrix(status="pass")) == [0, 1, 2, 3, 4, 5]
    assert world.get(f"/runs/{world.main}/matrix", status="maybe").status_code == 422


def test_assertion_filter_keeps_rows_where_that_assertion_failed(world: World) -> None:
    assert cases(world.matrix(assertion="regex")) == [1]
    body = world.matrix(assertion="icontains")
    assert cases(body) == [3] and body["rows"][0]["cells"][0]["match"] is True
    assert cases(world.matrix(assertion="icontains", status="pass")) == []
    none = world.matrix(assertion="no-such-type")
    assert (none["rows"], none["total"], none["cases"]) == ([], 0, 6)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("ONERROR", [3]),  # output, ignoring case
        ("topic-4-x", [4]),  # vars
        ("greeting five", [5]),  # description
        ("overloaded", [2]),  # error
        ("does not match", [1]),  # an assertion's reason
        ("café", [5]),  # non-ASCII inside a JSON output
        ("Ünïcode", [3]),
        ("%", [3]),  # LIKE's wildcards are searched for, not used: only a reason has "%"
        ("w_", []),
        ("hello w", [0, 1, 2, 3, 4]),
    ],
)
def test_text_filter_searches_outputs_vars_errors_and_reasons(
    world: World, q: str, expected: list[int]
) -> None:
    body = world.matrix(q=q)
    assert cases(body) == expected
    assert body["total"] == len(expected)


def test_filters_combine(world: World) -> None:
    assert cases(world.matrix(status="fail", q="hello w1")) == [1]
    assert cases(world.matrix(status="error", q="hello")) == []
    body = world.matrix(q="onerror", limit=1)
    assert cases(body) == [3] and [c["match"] for c in body["rows"][0]["cells"]] == [
        True, False, False, False]  # fmt: skip


# -- order ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort": "score"}, [2, 3, 1, 0, 4, 5]),  # mean score, lowest first; ties by case
        ({"sort": "-score"}, [0, 4, 5, 1, 3, 2]),
        ({"sort": "-cost"}, [5, 3, 4, 2, 1, 0]),  # summed cost; case 4 lacks one price
        ({"sort": "-cost", "column": 3}, [5, 3, 2, 1, 0, 4]),  # unknown cost sorts last
        ({"sort": "cost", "column": 3}, [0, 1, 2, 3, 5, 4]),
        ({"sort": "-latency", "column": 2}, [2, 5, 4, 3, 1, 0]),
        ({"sort": "latency"}, [0, 1, 3, 4, 5, 2]),  # mean latency; case 2 has a 5 s error
        ({"sort": "-case"}, [5, 4, 3, 2, 1, 0]),
        ({"sort": "score", "status": "fail"}, [3, 1]),
    ],
)
def test_rows_sort_by_score_cost_or_latency(
    world: World, params: dict[str, Any], expected: list[int]
) -> None:
    assert cases(world.matrix(**params)) == expected


def test_sorted_pages_continue_where_the_last_ended(world: World) -> None:
    pages = [cases(world.matrix(sort="-score", limit=4, offset=o)) for o in (0, 4)]
    assert pages == [[0, 4, 5, 1], [3, 2]]


def test_bad_order_and_page_parameters_are_refused(world: World) -> None:
    base = f"/runs/{world.main}/matrix"
    assert world.get(base, sort="name").status_code == 422
    assert world.get(base, limit=501).status_code == 422
    assert world.get(base, offset=-1).status_code == 422
    assert world.get(base, q="x" * 201).status_code == 422
    resp = world.get(base, sort="score", column=4)
    assert resp.status_code == 400 and "column 4" in resp.json()["detail"]
    assert world.get("/runs/no-such-run/matrix").status_code == 404


def test_odd_text_is_searched_not_refused(world: World) -> None:
    # PostgreSQL text cannot hold NUL; a search for one finds nothing rather than failing.
    for params in ({"q": "a\x00b"}, {"assertion": "x\x00"}, {"q": "\\"}, {"q": "'; --"}):
        body = world.matrix(**params)
        assert (body["rows"], body["total"], body["cases"]) == ([], 0, 6)


# -- other runs -------------------------------------------------------------------------------


def test_repeated_samples_are_rows_of_their_own(world: World) -> None:
    body = world.matrix(world.repeated)
    assert body["repeated"] is True
    assert [(r["case_index"], r["sample"]) for r in body["rows"]] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
    ]
    assert [r["cells"][0]["index"] for r in body["rows"]] == [0, 1, 8, 9]
    assert len(body["columns"]) == 4 and body["rows"][0]["cells"][1] is None


def test_a_running_run_counts_its_columns_from_the_trials(world: World) -> None:
    body = world.matrix(world.live)
    cols = body["columns"]
    assert [(c["prompt_label"], c["provider_label"], c["live"]) for c in cols] == [
        ("plain", "echo-a", True), ("fancy", "echo-b", True)]  # fmt: skip
    assert [c["stats"]["total"] for c in cols] == [3, 3]
    assert cols[0]["stats"]["passed"] == 3 and cols[0]["stats"]["latency_ms"]["p50"] is None
    assert cases(body) == [0, 1, 2]
    assert [[c["index"] for c in r["cells"]] for r in body["rows"]] == [[0, 3], [4, 7], [8, 11]]


def test_trials_out_of_the_plans_order_still_find_their_rows(world: World) -> None:
    body = world.matrix(world.scattered)
    assert cases(body) == [0, 1, 2]
    assert [[c["index"] for c in r["cells"]] for r in body["rows"]] == [
        [0, 5000, 10000, 15000], [1, 5001, 10001, 15001], [2, 5002, 10002, 15002]]  # fmt: skip
    fails = world.matrix(world.scattered, status="fail", sort="-case")
    assert cases(fails) == [1] and fails["rows"][0]["cells"][1]["status"] == "fail"
    assert world.get(f"/runs/{world.scattered}/trials/10002").json()["testIdx"] == 2


def test_a_run_without_trials_is_an_empty_page(world: World) -> None:
    body = world.matrix(world.empty)
    assert (body["rows"], body["total"], body["cases"]) == ([], 0, 0)
    assert len(body["columns"]) == 4 and all(c["stats"] is None for c in body["columns"])


# -- assertions and one trial -------------------------------------------------------------------


def test_assertion_facets_count_verdicts_and_failures(world: World) -> None:
    resp = world.get(f"/runs/{world.main}/assertions")
    assert resp.status_code == 200
    assert resp.json() == [
        {"type": "icontains", "total": 23, "failed": 1},
        {"type": "regex", "total": 1, "failed": 1},
    ]
    assert world.get("/runs/no-such-run/assertions").status_code == 404


def test_one_trial_has_everything_the_dialog_shows(world: World) -> None:
    resp = world.get(f"/runs/{world.main}/trials/{3 * 4 + 0}")
    assert resp.status_code == 200
    t = resp.json()
    assert t["index"] == 12 and t["status"] == "fail" and t["testIdx"] == 3
    assert t["response"]["output"] == f"{HOSTILE} Ünïcode says hi"
    assert t["prompt"] == {"raw": "Say w3 (plain)", "label": "plain"}
    assert t["provider"] == {"id": "echo", "label": "echo-a"}
    grading = t["gradingResult"]["componentResults"]
    assert [(g["assertion"]["type"], g["pass"], g["reason"]) for g in grading] == [
        ("icontains", False, "needle 100% missing")]  # fmt: skip
    assert t["raw"] == {"id": "r3-0", "note": HOSTILE}
    long = world.get(f"/runs/{world.main}/trials/{4 * 4 + 3}").json()
    assert long["response"]["output"] == LONG  # whole, not the preview
    error = world.get(f"/runs/{world.main}/trials/{2 * 4 + 2}").json()
    assert error["status"] == "error" and error["error"] == "HTTP 529 overloaded"
    assert world.get(f"/runs/{world.main}/trials/999").status_code == 404
    assert world.get(f"/runs/{world.main}/trials/-1").status_code == 422


def test_a_run_made_through_the_api_opens_in_the_matrix(world: World) -> None:
    config = {
        "prompts": ["Say {{word}}"],
        "providers": ["echo"],
        "tests": [
            {"vars": {"word": HOSTILE}, "assert": [{"type": "contains", "value": "Say"}]},
            {"vars": {"word": "two"}, "assert": [{"type": "equals", "value": "no"}]},
        ],
    }
    resp = httpx.post(f"{world.server.api}/evaluate", json={"config": config}, timeout=10)
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    deadline = time.monotonic() + 30
    while True:
        job = httpx.get(f"{world.server.api}/jobs/{job_id}", timeout=10).json()["job"]
        if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert job["status"] == "succeeded"
    body = world.matrix(job["run_id"])
    assert [c["provider_id"] for c in body["columns"]] == ["echo"]
    assert [[c["status"] for c in r["cells"]] for r in body["rows"]] == [["pass"], ["fail"]]
    assert body["rows"][0]["cells"][0]["output"] == f"Say {HOSTILE}"
    assert body["columns"][0]["stats"]["passed"] == 1
    assert cases(world.matrix(job["run_id"], assertion="equals")) == [1]


# -- previews (pure) ----------------------------------------------------------------------------


def test_preview_of_cut_json_text() -> None:
    assert preview('"plain"') == "plain"
    assert preview('{"a": "caf\\u00e9"}') == '{"a": "café"}'
    cut = '"' + "ab" * 600  # a string cut before its closing quote
    assert preview(cut) == ("ab" * 600)[: PREVIEW_CHARS - 1] + "…"
    # A cut inside an escape drops the half escape; the text stays readable.
    assert preview('"x' + "y" * 995 + "\\u00").startswith("xyy")
    half = preview('{"k": "caf\\u00e9 ' + "z" * 990)
    assert half.startswith('{"k": "café z') and half.endswith("…")
    assert preview("12") == "12"
