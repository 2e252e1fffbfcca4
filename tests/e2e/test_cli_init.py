"""`promptyard init`: a scaffold that evaluates offline, and that is never overwritten by
accident."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.clitools import assert_clean_error, read_json, run_cli


def test_init_then_eval_passes_offline(tmp_path: Path) -> None:
    made = run_cli("init", "my-project", cwd=tmp_path)
    assert made.returncode == 0, str(made)
    root = tmp_path / "my-project"
    assert (root / "promptyard.yaml").is_file()

    # No API keys and no network: the scaffold's providers are local.
    result = run_cli("eval", "--no-progress", "-o", "out.json", cwd=root)
    assert result.returncode == 0, str(result)
    doc = read_json(root / "out.json")
    rows = doc["results"]["results"]
    assert rows and all(r["success"] for r in rows)
    assert {r["provider"]["label"] for r in rows} == {"stand-in model", "echo"}
    assert "passed (100.0%)" in result.stdout


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    assert run_cli("init", "p", cwd=tmp_path).returncode == 0
    config = tmp_path / "p" / "promptyard.yaml"
    config.write_text("# my edits\n", encoding="utf-8")

    again = run_cli("init", "p", cwd=tmp_path)
    assert_clean_error(again, "promptyard.yaml", "already exist", "--force")
    assert config.read_text(encoding="utf-8") == "# my edits\n"

    forced = run_cli("init", "p", "--force", cwd=tmp_path)
    assert forced.returncode == 0, str(forced)
    assert config.read_text(encoding="utf-8") != "# my edits\n"


def test_init_in_current_directory(tmp_path: Path) -> None:
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 0, str(result)
    assert (tmp_path / "promptyard.yaml").is_file()
