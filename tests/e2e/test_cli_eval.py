"""`promptyard eval` against the local stub: summary, exit codes, flags, the response cache."""

from __future__ import annotations

import re

import pytest
from tests.e2e.clitools import (
    Project,
    chat_body,
    provider_yaml,
    read_json,
    run_id_from,
    word_tests,
)


def _row(stdout: str, label: str) -> list[str]:
    """The summary table's cells for the row whose prompt starts with `label`."""
    for line in stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if cells and cells[0].startswith(label):
            return cells
    raise AssertionError(f"no row {label!r} in\n{stdout}")


def test_all_pass_prints_summary_and_exits_0(project: Project) -> None:
    # Priced per million tokens so the cost column is a real number.
    project.config(
        word_tests("alpha", "beta"),
        providers=provider_yaml(project.stub.base_url, cost={"input": 1.0, "output": 2.0}),
    )
    result = project.eval()
    assert result.returncode == 0, str(result)
    assert project.stub.request_count == 2
    out = result.stdout
    for header in ("pass rate", "tokens", "cost (USD)", "p50 ms", "p95 ms"):
        assert header in out, out
    cells = _row(out, "Repeat:")
    # prompt, provider, pass rate, passed, failed, errors, mean score, tokens, cost, p50, p95
    assert cells[1] == "openai:chat:stub-model"
    assert cells[2:7] == ["100.0%", "2", "0", "0", "1.000"]
    # "Repeat: alpha": 2 words + 1 role marker in, the same 2 words back out, per case.
    assert cells[7] == "10"
    assert float(cells[8]) == pytest.approx(2 * (3 * 1e-6 + 2 * 2e-6))
    assert int(cells[9]) >= 0 and int(cells[10]) >= int(cells[9])
    assert "2/2 passed (100.0%)" in out
    assert "Failures" not in out
    # --no-progress, and output piped: no progress bar drawn.
    assert "eval" not in result.stderr and "━" not in result.stderr


def test_any_failure_exits_100_and_names_the_case(project: Project) -> None:
    project.config(word_tests("alpha", "beta", "gamma", "delta", expect={"delta": "omega"}))
    result = project.eval()
    assert result.returncode == 100, str(result)
    assert "3/4 passed (75.0%)" in result.stdout
    assert "case-delta" in result.stdout
    assert 'Expected output to contain "omega"' in result.stdout


def test_pass_rate_threshold_gates_both_ways(project: Project) -> None:
    project.config(word_tests("alpha", "beta", "gamma", "delta", expect={"delta": "omega"}))
    at = project.eval("--pass-rate-threshold", "75")
    assert at.returncode == 0, str(at)
    above = project.eval("--pass-rate-threshold", "80")
    assert above.returncode == 100, str(above)
    zero = project.eval("--pass-rate-threshold", "0")
    assert zero.returncode == 0, str(zero)


def test_second_unchanged_run_is_served_from_the_cache(project: Project) -> None:
    project.config(word_tests("alpha", "beta", "gamma"))
    first = project.eval("-o", "first.json")
    assert first.returncode == 0, str(first)
    assert project.stub.request_count == 3

    second = project.eval("-o", "second.json")
    assert second.returncode == 0, str(second)
    assert project.stub.request_count == 3, "a cached re-run must not call the provider"
    rows = read_json(project.root / "second.json")["results"]["results"]
    assert [r["response"]["cached"] for r in rows] == [True, True, True]
    assert [r["response"]["output"] for r in rows] == [
        "Repeat: alpha",
        "Repeat: beta",
        "Repeat: gamma",
    ]

    third = project.eval("--no-cache", "-o", "third.json")
    assert third.returncode == 0, str(third)
    assert project.stub.request_count == 6
    rows = read_json(project.root / "third.json")["results"]["results"]
    assert [r["response"]["cached"] for r in rows] == [False, False, False]


def test_repeat_stores_every_sample_flags_flaky_and_caches_per_sample(project: Project) -> None:
    project.config(word_tests("alpha", "beta"))
    # -j 1 keeps the order: alpha's samples 0, 1, 2 then beta's. Alpha's second sample
    # gets a wrong answer, so alpha passes 2 of 3 times: flaky. Beta always passes.
    project.stub.script({}, {"body": chat_body("no idea")})
    first = project.eval("--repeat", "3", "-j", "1", "-o", "out.json")
    assert first.returncode == 100, str(first)
    assert project.stub.request_count == 6
    assert "1 flaky case(s)" in first.stdout

    doc = read_json(project.root / "out.json")
    rows = doc["results"]["results"]
    assert [(r["testIdx"], r["sample"], r["success"]) for r in rows] == [
        (0, 0, True),
        (0, 1, False),
        (0, 2, True),
        (1, 0, True),
        (1, 1, True),
        (1, 2, True),
    ]
    assert [f["case_index"] for f in doc["summary"]["flaky"]] == [0]

    # Each sample has its own cache entry: the re-run calls nothing and replays the odd one.
    again = project.eval("--repeat", "3", "-j", "1", "-o", "again.json")
    assert again.returncode == 100, str(again)
    assert project.stub.request_count == 6
    rows = read_json(project.root / "again.json")["results"]["results"]
    assert [r["response"]["output"] for r in rows[:3]] == [
        "Repeat: alpha",
        "no idea",
        "Repeat: alpha",
    ]
    assert all(r["response"]["cached"] for r in rows)


def test_filter_pattern_and_first_n_select_tests(project: Project) -> None:
    project.config(word_tests("alpha", "beta", "gamma", "delta"))
    by_pattern = project.eval("--filter-pattern", "case-(beta|delta)$", "-o", "p.json")
    assert by_pattern.returncode == 0, str(by_pattern)
    rows = read_json(project.root / "p.json")["results"]["results"]
    assert [r["description"] for r in rows] == ["case-beta", "case-delta"]
    assert project.stub.request_count == 2

    first_n = project.eval("--filter-first-n", "3", "--no-cache", "-o", "n.json")
    assert first_n.returncode == 0, str(first_n)
    rows = read_json(project.root / "n.json")["results"]["results"]
    assert [r["description"] for r in rows] == ["case-alpha", "case-beta", "case-gamma"]
    assert project.stub.request_count == 5

    none = project.eval("--filter-pattern", "no-such-case", "-o", "none.json")
    assert "Traceback" not in none.stderr
    assert read_json(project.root / "none.json")["results"]["results"] == []


def test_concurrency_flag_bounds_calls_in_flight(project: Project) -> None:
    project.config(word_tests("a1", "a2", "a3", "a4", "a5", "a6"))
    project.stub.set_latency(80)
    wide = project.eval("-j", "3")
    assert wide.returncode == 0, str(wide)
    assert project.stub.stats()["max_in_flight"] == 3

    project.stub.reset()
    narrow = project.eval("-j", "1", "--no-cache")
    assert narrow.returncode == 0, str(narrow)
    assert project.stub.stats()["max_in_flight"] == 1
    assert project.stub.request_count == 6


def test_delay_spaces_calls_one_at_a_time(project: Project) -> None:
    project.config(word_tests("alpha", "beta", "gamma"))
    result = project.eval("--delay", "200", "-j", "4", "-o", "d.json")
    assert result.returncode == 0, str(result)
    assert project.stub.stats()["max_in_flight"] == 1
    summary = read_json(project.root / "d.json")["summary"]
    assert summary["duration_s"] >= 0.4  # at least two 200 ms pauses between three calls


def test_printed_run_id_is_the_stored_one(project: Project) -> None:
    project.config(word_tests("alpha"))
    result = project.eval("-o", "r.json")
    assert result.returncode == 0, str(result)
    run_id = run_id_from(result)
    assert read_json(project.root / "r.json")["evalId"] == run_id
    assert f"({'succeeded'})" in result.stdout
