"""In a real terminal `promptyard eval` shows a progress bar; piped, it shows none."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

from tests.e2e.clitools import cli_command, cli_env, run_cli


def _project(root: Path) -> Path:
    config = {
        "prompts": ["Say {{ word }}"],
        "providers": ["echo"],
        "tests": [
            {"vars": {"word": w}, "assert": [{"type": "contains", "value": w}]}
            for w in ("alpha", "beta", "gamma")
        ],
    }
    (root / "promptyard.yaml").write_text(json.dumps(config))
    return root


def _run_in_terminal(cwd: Path) -> tuple[int, str]:
    leader, follower = pty.openpty()
    env = cli_env({"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        cli_command("eval"), cwd=cwd, env=env, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    code = proc.wait(60)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_a_progress_bar_and_a_pipe_does_not(tmp_path: Path) -> None:
    project = _project(tmp_path)
    code, screen = _run_in_terminal(project)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert code == 0, plain
    assert re.search(r"eval .*\d/3 .*pass .*fail", plain), plain  # the bar's columns
    assert "3/3 passed (100.0%)" in plain

    piped = run_cli("eval", "--no-cache", cwd=project)
    assert piped.returncode == 0, str(piped)
    assert "3/3 passed (100.0%)" in piped.stdout
    assert not re.search(r"\d/3 .*pass .*fail", piped.stdout + piped.stderr)
