"""`promptyard assertions` and `providers` read the registries, not a copy of them."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.clitools import run_cli

from promptyard.providers import known_prefixes
from promptyard.scorers import assertion_types


def test_assertions_lists_every_registered_type(tmp_path: Path) -> None:
    result = run_cli("assertions", "--all", cwd=tmp_path)
    assert result.returncode == 0, result
    listed = {line.split("│")[1].strip() for line in result.stdout.splitlines() if "│" in line}
    assert {entry.name for entry in assertion_types()} <= listed


def test_assertions_hides_model_graded_types_by_default(tmp_path: Path) -> None:
    result = run_cli("assertions", cwd=tmp_path)
    assert result.returncode == 0, result
    model_graded = [e.name for e in assertion_types() if e.needs_model]
    assert model_graded, "the registry lists model-graded types"
    rows = {line.split("│")[1].strip() for line in result.stdout.splitlines() if "│" in line}
    assert not rows & set(model_graded)


def test_providers_lists_known_prefixes(tmp_path: Path) -> None:
    result = run_cli("providers", cwd=tmp_path)
    assert result.returncode == 0, result
    assert result.stdout.split() == known_prefixes()
