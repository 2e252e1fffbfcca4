"""The UI's pure JavaScript modules, tested with node's built-in runner (tests/js/*.test.mjs).

Node is part of this machine's toolset; where it is missing the test fails under CI=true and
skips elsewhere, saying why."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.e2e.browser import in_ci

REPO = Path(__file__).resolve().parents[2]


def test_js_modules_pass_their_node_tests() -> None:
    node = shutil.which("node")
    if node is None:
        if in_ci():
            pytest.fail("CI=true but node is missing: the UI's JS modules are untested")
        pytest.skip("node is not installed: the UI's JS module tests need it")
    files = sorted(str(p) for p in (REPO / "tests" / "js").glob("*.test.mjs"))
    assert files, "no JS tests found"
    done = subprocess.run([node, "--test", *files], capture_output=True, text=True,
                          timeout=120, cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout
