"""The promptfoo features added after the trust boundary reach code, files and hosts only
through it. Over real HTTP against `promptyard serve` (Python off, files confined, private
and metadata hosts refused): each attack is a 400 naming the field before anything runs, and
a canary that the Python would write never appears."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server

CANARY_PY = (
    "import pathlib\npathlib.Path(__file__).with_name('RAN').write_text('x')\n"
    "def fn(*args, **kwargs):\n    return 'hi'\n"
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("paths")
    project = tmp / "projects" / "p"
    project.mkdir(parents=True)
    (project / "canary.py").write_text(CANARY_PY)
    (project / "up.js").write_text("module.exports = (s) => s.toUpperCase();\n")
    (tmp / "outside.js").write_text("module.exports = (s) => s;\n")
    with running_server(tmp, projects_root=tmp / "projects") as server:
        yield server, project


def base(**extra: Any) -> dict[str, Any]:
    return {"prompts": ["hi"], "providers": ["echo"], "tests": [{"vars": {}}], **extra}


def judged(assertion: dict[str, Any]) -> dict[str, Any]:
    return base(tests=[{"vars": {}, "assert": [assertion]}])


ATTACKS = {
    "python-prompt-function": (base(prompts=["file://canary.py:fn"]), "prompts[0]"),
    "python-test-generator": (base(tests="file://canary.py:fn"), "tests"),
    "python-nunjucks-filter": (
        base(prompts=["{{ 'a' | up }}"], nunjucksFilters={"up": "file://canary.py:fn"}),
        "nunjucksFilters.up",
    ),
    "js-filter-outside-the-project": (
        base(prompts=["{{ 'a' | up }}"], nunjucksFilters={"up": "file://../../outside.js"}),
        "outside the project",
    ),
    "python-assert-scoring-function": (
        base(tests=[{"vars": {}, "assertScoringFunction": "file://canary.py:fn",
                     "assert": [{"type": "contains", "value": "h"}]}]),
        "assertScoringFunction",
    ),
    "moderation-to-a-metadata-host": (
        judged({"type": "moderation", "provider": {
            "id": "openai:moderation:omni-moderation-latest",
            "config": {"apiBaseUrl": "http://169.254.169.254/v1", "apiKey": "k"}}}),
        "169.254.169.254",
    ),
    "classifier-to-a-private-host": (
        judged({"type": "classifier", "value": "x", "provider": {
            "id": "huggingface:text-classification:m",
            "config": {"apiEndpoint": "http://10.1.2.3/x", "apiKey": "k"}}}),
        "10.1.2.3",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_new_paths_go_through_the_trust_boundary(
    env: tuple[ServerProcess, Path], name: str
) -> None:
    server, project = env
    config, named = ATTACKS[name]
    resp = httpx.post(f"{server.api}/evaluate", json={"config": config, "project": "p"},
                      timeout=30)  # fmt: skip
    assert resp.status_code == 400, resp.text
    assert named in resp.json()["detail"]
    assert not (project / "RAN").exists()


def test_a_javascript_filter_inside_the_project_runs(env: tuple[ServerProcess, Path]) -> None:
    """The control: the sandboxed JS filter is allowed where Python is not."""
    server, _ = env
    config = base(prompts=["{{ 'quiet' | up }}"], nunjucksFilters={"up": "file://up.js"})
    resp = httpx.post(f"{server.api}/evaluate", json={"config": config, "project": "p"})
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    deadline = time.monotonic() + 30
    while (detail := httpx.get(f"{server.api}/jobs/{job_id}").json())["job"]["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.05)
    assert detail["job"]["status"] == "succeeded", detail["job"]
    outputs = [e["payload"].get("output") for e in detail["events"] if e["type"] == "trial"]
    assert outputs == ["QUIET"]
