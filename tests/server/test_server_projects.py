"""Projects on disk and the registry, both ways: imported at start-up, `promptyard push`
sends changed prompts as new versions, `promptyard pull` writes the deployed ones back."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
from bench.serverctl import REPO, running_server

QUICKSTART = REPO / "examples" / "quickstart"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "promptyard.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(REPO / "src")})  # fmt: skip


def test_import_push_and_pull(tmp_path: Path) -> None:
    root = tmp_path / "projects"
    shutil.copytree(QUICKSTART, root / "quickstart", ignore=shutil.ignore_patterns(".promptyard"))
    (root / "not-a-project").mkdir()
    with running_server(tmp_path, projects_root=root) as server:
        api = server.api
        catalog = httpx.get(f"{api}/catalog").json()
        (project,) = [p for p in catalog["projects"] if p["name"] == "quickstart"]
        assert {p["name"] for p in project["prompts"]} == {"v1-plain-reply", "triage_v2"}
        assert project["datasets"] == [{"name": "tests", "latest_version": 1, "row_count": 6}]
        prompt_file = root / "quickstart" / "prompts" / "triage_v2.txt"
        prompt_file.write_text(prompt_file.read_text() + "Be brief.\n")
        pushed = cli("push", str(root / "quickstart"), "--url", server.url, cwd=tmp_path)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        assert "prompt triage_v2: version 2" in pushed.stdout
        assert "prompt v1-plain-reply: version 1" in pushed.stdout  # unchanged: no new version
        v2 = httpx.get(f"{api}/prompts/triage_v2/versions/2",
                       params={"project": "quickstart"}).json()  # fmt: skip
        assert v2["template"].endswith("Be brief.")  # (a prompt file loses its last newline)
        httpx.put(f"{api}/prompts/triage_v2/labels/production", params={"project": "quickstart"},
                  json={"version": 1}).raise_for_status()  # fmt: skip
        clone = tmp_path / "clone" / "quickstart"
        clone.mkdir(parents=True)
        pulled = cli("pull", str(clone), "--url", server.url, cwd=tmp_path)
        assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        assert "v1-plain-reply: no 'production' version, skipped" in pulled.stdout
        written = (clone / "prompts" / "triage_v2.txt").read_text()
        assert "Be brief." not in written and "Reply with JSON only" in written
    with running_server(tmp_path, projects_root=root, db=server.db) as again:
        # A restart imports the edited file again: one new version at most, never a duplicate.
        versions = httpx.get(f"{again.api}/prompts/triage_v2/versions",
                             params={"project": "quickstart"}).json()  # fmt: skip
        assert [v["version"] for v in versions] == [2, 1]
