"""A promptfoo config, written with promptfoo's own spellings, runs unchanged.

The expected verdicts are worked out from promptfoo's documented semantics: defaultTest's vars
fill in what a test leaves out, defaultTest's assertions run first on every test, CSV
`__expectedN` cells become assertions (`type:value`, `not-` prefixes, comma lists for
`contains-any`, `javascript:` expressions), and a test passes only if all its assertions do,
scoring the mean of their scores.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.clitools import Project, read_json

CONFIG = """\
# yaml-language-server: $schema=https://promptfoo.dev/config-schema.json
description: promptfoo compatibility
prompts:
  - file://prompts/ask.txt
providers:
  - id: openai:chat:stub-model
    config:
      apiBaseUrl: {base_url}
      apiKeyEnvar: MY_PF_KEY
      temperature: 0
      max_tokens: 64
defaultTest:
  vars:
    tone: polite
  assert:
    - type: icontains
      value: "{{{{ topic }}}}"
tests: file://tests.csv
"""

CSV = """\
topic,__expected1,__expected2,__description
cats,contains:polite,not-contains:dogs,about cats
dogs,icontains:DOGS,equals:dogs,about dogs
birds,"contains-any:fish,birds",javascript:output.length > 5,about birds
fish,starts-with:Tell,not-icontains:FISH,about fish
rust,regex:about r.st,,about rust
"""


def _write(project: Project, name: str = "promptfooconfig.yaml") -> None:
    project.write(name, CONFIG.format(base_url=project.stub.base_url))
    project.write("prompts/ask.txt", "Tell me about {{ topic }} in a {{ tone }} way\n")
    project.write("tests.csv", CSV)


def test_promptfoo_config_runs_unchanged_with_promptfoo_verdicts(project: Project) -> None:
    _write(project)
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json", env={"MY_PF_KEY": "k1"})
    assert result.returncode == 100, str(result)

    # The key came from the variable apiKeyEnvar names; max_tokens and temperature went along.
    sent = project.stub.requests
    assert len(sent) == 5
    assert {r["authorization"] for r in sent} == {"Bearer k1"}
    assert {(r["body"]["temperature"], r["body"]["max_tokens"]) for r in sent} == {(0, 64)}
    assert sent[0]["body"]["messages"][-1]["content"] == "Tell me about cats in a polite way"

    rows = read_json(Path(project.root / "out.json"))["results"]["results"]
    by_topic = {r["vars"]["topic"]: r for r in rows}
    assert list(by_topic) == ["cats", "dogs", "birds", "fish", "rust"]
    assert {t: r["success"] for t, r in by_topic.items()} == {
        "cats": True,
        "dogs": False,  # equals:dogs against a whole sentence
        "birds": True,
        "fish": False,  # not-icontains:FISH
        "rust": True,
    }
    assert by_topic["cats"]["vars"]["tone"] == "polite"
    assert [r["description"] for r in rows] == [
        "about cats",
        "about dogs",
        "about birds",
        "about fish",
        "about rust",
    ]
    # defaultTest's assertion comes first, then the row's cells (empty ones skipped).
    dogs = by_topic["dogs"]["gradingResult"]["componentResults"]
    assert [(c["assertion"]["type"], c["pass"]) for c in dogs] == [
        ("icontains", True),
        ("icontains", True),
        ("equals", False),
    ]
    assert by_topic["dogs"]["score"] == pytest.approx(2 / 3)
    rust = by_topic["rust"]["gradingResult"]["componentResults"]
    assert [c["assertion"]["type"] for c in rust] == ["icontains", "regex"]
    birds = by_topic["birds"]["gradingResult"]["componentResults"]
    assert [c["assertion"]["type"] for c in birds] == ["icontains", "contains-any", "javascript"]
    assert "3/5 passed (60.0%)" in result.stdout


def test_promptfoo_config_is_found_without_c(project: Project) -> None:
    _write(project)
    result = project.eval(env={"MY_PF_KEY": "k1"})
    assert result.returncode == 100, str(result)
    assert "3/5 passed" in result.stdout


def test_promptfoo_config_without_its_key_names_the_variable(project: Project) -> None:
    _write(project)
    result = project.eval("-c", "promptfooconfig.yaml")
    assert result.returncode == 1, str(result)
    assert "MY_PF_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert project.stub.request_count == 0
