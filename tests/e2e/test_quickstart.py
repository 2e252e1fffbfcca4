"""The bundled example that `make run` evaluates: offline, no key, the results it is meant to
show: v2 passes every case, v1 fails on purpose and says why."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.e2e.clitools import REPO, run_cli


def _summary(stdout: str) -> str:
    match = re.search(r"^(\d+/\d+ passed .*)$", stdout, re.MULTILINE)
    assert match, stdout
    return match.group(1)


def test_the_quickstart_runs_offline_and_shows_what_failed_and_why(tmp_path: Path) -> None:
    project = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", project)

    templates = run_cli("eval", "--no-progress", "-c", "templates.yaml", cwd=project)
    assert templates.returncode == 0, str(templates)
    assert _summary(templates.stdout).startswith("2/2 passed (100.0%)")

    result = run_cli("eval", "--no-progress", cwd=project)
    assert result.returncode == 100, str(result)  # some tests fail, as the example means to
    assert _summary(result.stdout).startswith("6/12 passed (50.0%), 6 failed, 0 errors")
    out = " ".join(result.stdout.split())
    # v1 answers in prose: its JSON checks throw, which is said plainly, with each reason.
    assert "6 trial(s) with an assertion that could not be checked" in out
    assert "Expected output to contain valid JSON" in out
    assert "Levenshtein distance" in out


def test_the_readmes_offline_optimizer_example_runs(tmp_path: Path) -> None:
    """README's `promptyard optimize` example, as written, in the quickstart folder: the
    stand-in proposer's JSON prompt is accepted on validation and wins on test."""
    project = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", project)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = re.search(r"^promptyard optimize -c optimize\.yaml.*?$\n.*?$", readme, re.M)
    assert command, "README shows the offline optimize example"
    args = [
        a.strip("'") for a in re.findall(r"'[^']*'|\S+", command.group(0).replace("\\\n", " "))
    ][1:]
    assert args[:3] == ["optimize", "-c", "optimize.yaml"], args
    result = run_cli(*args, cwd=project)
    assert result.returncode == 0, str(result)
    out = " ".join(result.stdout.split())
    assert "accepted" in out and "Answer in JSON" in out
    assert re.search(r"Test \(2 cases, 95% CI\): seed [0-9.]+ .* -> best 1\.000", out), out
