"""bench/promptfoo_examples.py measures how many of promptfoo's example configs load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.e2e.clitools import REPO

EXAMPLES = Path("/work/shared/promptfoo-examples/examples")
FOLDERS = "js-config,ts-config,python-test-cases,separate-test-configs,extension-api,named-metrics"


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="promptfoo's examples are not here")
def test_the_script_counts_loaded_and_refused_configs_by_reason() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.promptfoo_examples",
            str(EXAMPLES),
            "--folders",
            FOLDERS,
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    figures = json.loads(out)
    status = {name.split("/")[0]: r["status"] for name, r in figures["configs"].items()}
    assert status == {
        "js-config": "loaded",  # module.exports = {...}, evaluated in the V8 sandbox
        "ts-config": "loaded",  # TypeScript type annotations dropped
        "python-test-cases": "loaded",  # tests: file://test_cases.py:fn, Python allowed locally
        "separate-test-configs": "loaded",  # vars: ../vars/vars_*.yaml
        "extension-api": "refused",
        "named-metrics": "loaded",  # derivedMetrics
    }
    assert figures["total"] == 6 and figures["loaded"] + figures["refused"] == 6
    assert any("extensions" in reason for reason, _ in figures["reasons"])


def test_the_printout_gives_the_figures_and_the_reasons(tmp_path: Path) -> None:
    folder = tmp_path / "examples" / "one"
    folder.mkdir(parents=True)
    (folder / "promptfooconfig.yaml").write_text("prompts: [hi]\nproviders: [echo]\nredteam: {}\n")
    (tmp_path / "examples" / "two").mkdir()
    (tmp_path / "examples" / "two" / "promptfooconfig.yaml").write_text(
        "prompts: [hi]\nproviders: [echo]\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "bench.promptfoo_examples", str(tmp_path / "examples")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.startswith("loaded 1 / 2 configs"), out
    assert "   1  promptfooconfig.yaml:N, redteam:" in out
