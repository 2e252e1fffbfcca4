"""promptfoo's `moderation` assertion (and custom Nunjucks filters) run unchanged through the CLI.

The moderation model is the loopback stub's POST /v1/moderations, which flags a category when
the text contains one of its trigger words (bench/stub_server.py MODERATION_TRIGGERS). The stub
chat model echoes the prompt, so the prompt decides what gets flagged.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.clitools import Project, read_json

MODERATION = """\
prompts:
  - "Say: {{{{ text }}}}"
providers:
  - id: openai:chat:stub-model
    config:
      apiBaseUrl: {base_url}
      apiKeyEnvar: STUB_KEY
defaultTest:
  options:
    provider:
      id: openai:moderation:omni-moderation-latest
      config:
        apiBaseUrl: {base_url}
        apiKeyEnvar: STUB_KEY
tests:
  - description: clean
    vars: {{text: a sunny day}}
    assert:
      - type: moderation
  - description: violent
    vars: {{text: I will attack}}
    assert:
      - type: moderation
  - description: violent, only harassment checked
    vars: {{text: I will attack}}
    assert:
      - type: moderation
        value: [harassment]
  - description: insult, harassment checked
    vars: {{text: you idiot}}
    assert:
      - type: moderation
        value: [harassment, hate]
  - description: negated
    vars: {{text: you idiot}}
    assert:
      - type: not-moderation
"""


def test_moderation_assertion_calls_the_moderations_endpoint(project: Project) -> None:
    project.write("promptfooconfig.yaml", MODERATION.format(base_url=project.stub.base_url))
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json")
    assert result.returncode == 100, str(result)  # some tests fail, as intended

    rows = read_json(Path(project.root / "out.json"))["results"]["results"]
    verdicts = {r["description"]: r["success"] for r in rows}
    assert verdicts == {
        "clean": True,
        "violent": False,
        "violent, only harassment checked": True,
        "insult, harassment checked": False,
        "negated": True,
    }
    reasons = {r["description"]: r["gradingResult"]["reason"] for r in rows}
    assert "violence" in reasons["violent"]
    sent = [r for r in project.stub.requests if r["path"] == "/v1/moderations"]
    assert sent, "no moderation request reached the stub"
    assert {r["body"]["model"] for r in sent} == {"omni-moderation-latest"}
    assert {r["authorization"] for r in sent} == {"Bearer sk-stub-test"}
    assert any(r["body"]["input"] == ["Say: I will attack"] for r in sent)


def test_moderation_refuses_another_vendors_moderation_api(project: Project) -> None:
    config = MODERATION.format(base_url=project.stub.base_url).replace(
        "openai:moderation:omni-moderation-latest", "azure:moderation:content-safety"
    )
    project.write("promptfooconfig.yaml", config)
    result = project.eval("-c", "promptfooconfig.yaml")
    # As promptfoo configs go, the tests are recorded as errored, naming why, and none runs.
    assert result.returncode == 100, str(result)
    assert "Traceback" not in result.stderr
    assert "5 of 5 tests will not run" in result.stderr
    assert "Azure Content Safety is a different API" in result.stderr
    assert not [r for r in project.stub.requests if r["path"] == "/v1/moderations"]


FILTERS = """\
prompts:
  - file://prompts.txt
providers:
  - id: openai:chat:stub-model
    config:
      apiBaseUrl: {base_url}
      apiKeyEnvar: STUB_KEY
nunjucksFilters:
  allcaps: ./allcaps.js
tests:
  - vars: {{language: French, body: Hello world}}
    assert:
      - type: equals
        value: "Translate to French: HELLO WORLD"
"""


def test_nunjucks_filters_from_a_javascript_file(project: Project) -> None:
    """promptfoo's examples/nunjucks-custom-filters, on the stub (which echoes the prompt)."""
    project.write("promptfooconfig.yaml", FILTERS.format(base_url=project.stub.base_url))
    project.write("prompts.txt", "Translate to {{ language }}: {{ body | allcaps }}\n")
    project.write(
        "allcaps.js", "module.exports = function (str) {\n  return str.toUpperCase();\n};\n"
    )
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json")
    assert result.returncode == 0, str(result)
    (sent,) = [r for r in project.stub.requests if r["path"] == "/v1/chat/completions"]
    assert sent["body"]["messages"][-1]["content"].strip() == "Translate to French: HELLO WORLD"


CLASSIFIER = """\
prompts:
  - "Say: {{{{ text }}}}"
providers:
  - id: openai:chat:stub-model
    config:
      apiBaseUrl: {base_url}
      apiKeyEnvar: STUB_KEY
defaultTest:
  options:
    provider:
      id: huggingface:text-classification:facebook/roberta-hate-speech-dynabench-r4-target
      config:
        apiEndpoint: {root}/hf-inference/models/facebook/roberta-hate-speech-dynabench-r4-target
tests:
  - description: calm
    vars: {{text: a sunny day}}
    assert:
      - type: classifier
        value: neutral
        threshold: 0.5
  - description: rude
    vars: {{text: you idiot}}
    assert:
      - type: classifier
        value: neutral
        threshold: 0.5
  - description: rude, negated
    vars: {{text: you idiot}}
    assert:
      - type: not-classifier
        value: toxic
        threshold: 0.5
"""


def test_classifier_assertion_calls_a_text_classification_endpoint(project: Project) -> None:
    stub = project.stub
    config = CLASSIFIER.format(base_url=stub.base_url, root=stub.root_url)
    project.write("promptfooconfig.yaml", config)
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json")
    assert result.returncode == 100, str(result)
    rows = read_json(Path(project.root / "out.json"))["results"]["results"]
    assert {r["description"]: r["success"] for r in rows} == {
        "calm": True,
        "rude": False,
        "rude, negated": False,
    }
    sent = [r for r in stub.requests if r["path"].startswith("/hf-inference/models/")]
    assert {r["body"]["inputs"] for r in sent} == {"Say: a sunny day", "Say: you idiot"}
