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
