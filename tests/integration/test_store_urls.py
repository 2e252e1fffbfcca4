"""Database URLs as users copy them from other tools' settings: an async driver's URL opens
the same database through ours, and a PostgreSQL URL without its driver says which extra to
install, without printing the password."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.clitools import REPO, run_cli, run_id_from


def test_an_aiosqlite_url_opens_the_same_file(tmp_path: Path) -> None:
    (tmp_path / "promptyard.yaml").write_text(
        "prompts: ['Say {{w}}']\nproviders: [echo]\ntests: [{vars: {w: hi}}]\n"
    )
    db = tmp_path / "runs.db"
    result = run_cli("eval", "--no-progress", "--db", f"sqlite+aiosqlite:///{db}", cwd=tmp_path)
    assert result.returncode == 0, result
    listed = run_cli("runs", "list", "--db", f"sqlite:///{db}", cwd=tmp_path)
    assert listed.returncode == 0, listed
    assert run_id_from(result)[:8] in listed.stdout, listed


def test_postgres_without_its_driver_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['psycopg'] = None  # what an install without the postgres extra sees\n"
        "from promptyard.store import Store\n"
        "try:\n"
        "    Store.open('postgresql://ana:s3cret@127.0.0.1:5432/promptyard')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
        env={"PYTHONPATH": str(REPO / "src")},
    ).stdout  # fmt: skip
    assert out.startswith("StoreError"), out
    assert "pip install 'promptyard[postgres]'" in out
    assert "s3cret" not in out and "ana:***@127.0.0.1" in out
