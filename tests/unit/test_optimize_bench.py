"""bench/optimize_bench.py: its summary and table, and tiny runs of the script, so it can't rot
(the figures themselves are in docs/benchmarks.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from bench.optimize_bench import DIRECT, Run, _provider_ref, main, summarize, table
from bench.stub_server import StubServer
from bench.task_model import install, make_task, proposer_provider, task_provider


def run(
    method: str,
    signal: bool,
    gain: float,
    spent: float,
    changed: bool,
    decisions: int | None = None,
    accepted: int | None = None,
) -> Run:
    return Run(method, 0, signal, 0.2, 0.2 + gain, spent, changed, 1.0, 3, decisions, accepted)


def test_summary_and_table() -> None:
    runs = [
        run("instruct", True, 0.2, 0.01, True, 2, 1),
        run("instruct", True, 0.4, 0.03, True, 3, 1),
        run("instruct", False, 0.0, 0.02, False, 4, 0),
        run("instruct", False, -0.1, 0.02, True, 2, 1),
        run(DIRECT, True, 0.5, 0.05, True),
        run(DIRECT, False, -0.05, 0.05, True),
    ]
    ours, direct = summarize(runs)
    assert ours["method"] == "instruct" and ours["runs"] == 2
    assert ours["test_gain"] == pytest.approx(0.3)
    assert ours["test_gain_sd"] == pytest.approx(math.sqrt(0.02))
    assert ours["gain_per_usd"] == pytest.approx(0.3 / 0.02)  # mean gain / mean spend
    assert (ours["accepted_runs"], ours["false_acceptances"], ours["noise_runs"]) == (2, 1, 2)
    assert (ours["noise_accepted_decisions"], ours["noise_decisions"]) == (1, 6)
    assert direct["test_gain_sd"] == 0.0 and direct["noise_decisions"] is None
    lines = table([ours, direct]).splitlines()
    assert lines[2] == "| instruct | +0.300 ± 0.141 | $0.0200 | +15.0 | 2/2 | 1/2 | 1/6 | 1.0 s |"
    assert lines[3] == "| gepa direct | +0.500 ± 0.000 | $0.0500 | +10.0 | 1/1 | 1/1 | - | 1.0 s |"


def test_provider_ref() -> None:
    assert _provider_ref("ollama:llama3.2") == "ollama:llama3.2"
    assert _provider_ref('{"id": "x", "config": {}}') == {"id": "x", "config": {}}
    assert _provider_ref(None) is None


def test_a_tiny_run_of_the_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    main(["--seeds", "1", "--cases", "60", "--budget", "0.004", "--methods",
          f"instruct,{DIRECT}", "--json", str(out)])  # fmt: skip
    data = json.loads(out.read_text())
    assert [(r["method"], r["signal"]) for r in data["runs"]] == [
        ("instruct", True), (DIRECT, True), ("instruct", False), (DIRECT, False)
    ]  # fmt: skip
    for r in data["runs"]:
        # gepa direct stops between its steps: one step (~0.0003 here) may pass the cap
        assert 0 < r["spent_usd"] <= 0.004 + 0.001, r
        assert not math.isnan(r["gain"])
    assert [row["method"] for row in data["summary"]] == ["instruct", DIRECT]
    assert "| gepa direct |" in capsys.readouterr().out


def test_the_real_model_recipe_runs_on_a_config_file(
    stub_server: StubServer, tmp_path: Path
) -> None:
    install(stub_server, signal=True, seed=0)
    config = tmp_path / "promptyard.yaml"
    config.write_text(json.dumps({**make_task(60), "providers": [task_provider(stub_server)]}))
    out = tmp_path / "out.json"
    proposer = json.dumps(proposer_provider(stub_server))
    main(["--config", str(config), "--proposer", proposer, "--methods", DIRECT, "--seeds", "1",
          "--budget", "0.004", "--json", str(out)])  # fmt: skip
    data = json.loads(out.read_text())
    assert [r["signal"] for r in data["runs"]] == [True]  # no noise runs on a real task
    assert data["summary"][0]["noise_runs"] == 0
