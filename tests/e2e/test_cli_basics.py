"""What a new user types first: `--version` (and the library's `__version__`), and shell
completion."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.clitools import run_cli

import promptyard


def test_version_is_printed_and_matches_the_package(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0, result
    assert result.stdout.strip() == promptyard.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", promptyard.__version__)


def test_shell_completion_is_on(tmp_path: Path) -> None:
    result = run_cli("--show-completion", "bash", cwd=tmp_path)
    assert result.returncode == 0, result
    assert "_completion()" in result.stdout and "complete -o default -F" in result.stdout
    help_text = run_cli("--help", cwd=tmp_path).stdout
    assert "--install-completion" in help_text
