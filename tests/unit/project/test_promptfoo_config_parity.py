"""Real promptfoo configs load as promptfoo would load them.

Each config below is one of promptfoo's examples/ (or its docs' guide), recreated with its data
files; the expected prompts, labels, ids, providers, tests, vars and assertions are what
promptfoo's own loader computes (src/prompts/processors/*, src/util/testCaseReader.ts,
src/csv.ts, src/evaluator.ts, src/models/prompt.ts), worked out by hand from that source.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from promptyard.core.types import EvalSpec
from promptyard.errors import ConfigError
from promptyard.project import load_config

WriteFile = Callable[[str, str], Path]


def _sha(label: str) -> str:
    return hashlib.sha256(label.encode("utf-8")).hexdigest()


def _asserts(spec: EvalSpec, index: int) -> list[tuple[str, object]]:
    return [(a.type, a.value) for a in spec.tests[index].assertions]


# ------------------------------------------------------------ examples/simple-csv


def test_example_simple_csv(write: WriteFile) -> None:
    write("prompts.txt", "Rephrase this in {{language}} ({{style_config}}): {{body}}\n")
    write(
        "tests.csv",
        "language,body,style_config,__expected\n"
        'French,"Hello world","{""tone"":""formal"",""length"":""brief""}","icontains:bonjour"\n'
        'French,"I\'m hungry","{""tone"":""casual""}","icontains:faim"\n'
        'Pirate,"Hello world","{""tone"":""authentic""}","icontains:Ahoy"\n'
        'Pirate,"I\'m hungry","{""formatting"":{""bullets"":false}}","icontains:grub"\n',
    )
    path = write(
        "promptfooconfig.yaml",
        """
        description: A translator built with LLM
        prompts:
          - file://prompts.txt
        providers:
          - openai:gpt-3.5-turbo
        tests: file://tests.csv
        """,
    )
    spec = load_config(path)
    (prompt,) = spec.prompts
    text = "Rephrase this in {{language}} ({{style_config}}): {{body}}"
    assert prompt.text == text
    # processTxtFile: `${filePath}: ${raw}`; generateIdFromPrompt: sha256(label)
    assert prompt.label == f"prompts.txt: {text}"
    assert prompt.id == _sha(prompt.label)
    assert [(p.id, p.label, p.config) for p in spec.providers] == [
        ("openai:gpt-3.5-turbo", None, {})
    ]
    assert spec.description == "A translator built with LLM"
    assert len(spec.tests) == 4
    assert spec.tests[0].vars == {
        "language": "French",
        "body": "Hello world",
        "style_config": '{"tone":"formal","length":"brief"}',  # CSV cells stay text
    }
    assert [_asserts(spec, i) for i in range(4)] == [
        [("icontains", "bonjour")],
        [("icontains", "faim")],
        [("icontains", "Ahoy")],
        [("icontains", "grub")],
    ]


# ------------------------------------------------------------ examples/csv-metadata


def test_example_csv_metadata(write: WriteFile) -> None:
    write(
        "tests.csv",
        "topic,__expected1,__expected2,__metadata:category,__metadata:tags[]\n"
        '"machine learning","contains: algorithm","llm-rubric:Does this describe {{topic}} '
        'accurately?","technology","ai,data science,algorithms"\n'
        '"quantum physics","contains: quantum","llm-rubric:Does this describe {{topic}} '
        'accurately","science","physics,advanced\\,theory,quantum"\n',
    )
    path = write(
        "promptfooconfig.yaml",
        """
        prompts:
          - 'Tell me about {{topic}}'

        providers:
          - id: openai:gpt-4.1
            config:
              temperature: 0.7

        tests: file://tests.csv
        """,
    )
    spec = load_config(path)
    (prompt,) = spec.prompts
    # processString: the label of an inline prompt is its text
    assert (prompt.label, prompt.id) == ("Tell me about {{topic}}", _sha("Tell me about {{topic}}"))
    (provider,) = spec.providers
    assert (provider.id, provider.label, provider.config) == (
        "openai:gpt-4.1",
        None,
        {"temperature": 0.7},
    )
    assert len(spec.tests) == 2
    assert _asserts(spec, 0) == [
        ("contains", "algorithm"),
        ("llm-rubric", "Does this describe {{topic}} accurately?"),
    ]
    assert spec.tests[0].metadata == {
        "category": "technology",
        "tags": ["ai", "data science", "algorithms"],
    }
    assert spec.tests[1].metadata["tags"] == ["physics", "advanced,theory", "quantum"]
    assert spec.tests[1].vars == {"topic": "quantum physics"}


# ------------------------------------------------------------ examples/simple-test


SIMPLE_TEST = """
# yaml-language-server: $schema=https://promptfoo.dev/config-schema.json
prompts:
  - file://prompts.txt
providers:
  - openai:gpt-4.1-mini
tests:
  - description: Check for exact match
    vars:
      body: Yes
    assert:
      - type: equals
        value: Yarr

  - description: Another basic substring check
    vars:
      body: I'm hungry
    assert:
      - type: icontains
        value: grub

  - description: Check if output is JSON
    vars:
      body: Output the story of your life in JSON
    assert:
      - type: is-json

  - description: Check for semantic similarity
    vars:
      body: Hello world
    assert:
      - type: javascript
        value: output.startsWith('Ahoy')
      - type: python
        value: max(0, len(output) - 300)
      - type: similar
        value: Ahoy, world

  - description: Use LLM to evaluate output
    vars:
      body: The quick brown fox jumps over the lazy dog
    assert:
      - type: llm-rubric
        value: Is spoken like a pirate
      # $ref can be used as a shorthand to include reusable templates
      - $ref: '#/assertionTemplates/containsPirateNoise'

outputPath: output.csv

assertionTemplates:
  containsPirateNoise:
    type: icontains
    value: arrr
"""


def test_example_simple_test_with_ref_and_output_path(
    write: WriteFile, caplog: pytest.LogCaptureFixture
) -> None:
    write(
        "prompts.txt",
        "Respond to the user in pirate speak: {{body}}\n---\nSpeak like Yoda: {{body}}\n",
    )
    with caplog.at_level(logging.INFO, logger="promptyard.project.loader"):
        spec = load_config(write("promptfooconfig.yaml", SIMPLE_TEST))
    assert "outputPath" in caplog.text  # ignored, with a note
    assert [p.label for p in spec.prompts] == [
        "prompts.txt: Respond to the user in pirate speak: {{body}}",
        "prompts.txt: Speak like Yoda: {{body}}",
    ]
    assert len(spec.tests) == 5
    assert spec.tests[0].vars == {"body": "Yes"}  # js-yaml: YAML 1.2, `Yes` is text
    assert [t.description for t in spec.tests][:2] == [
        "Check for exact match",
        "Another basic substring check",
    ]
    assert _asserts(spec, 2) == [("is-json", None)]
    assert [a.type for a in spec.tests[3].assertions] == ["javascript", "python", "similar"]
    # $ref is dereferenced against the config, as promptfoo's loader does
    assert _asserts(spec, 4) == [("llm-rubric", "Is spoken like a pirate"), ("icontains", "arrr")]


def test_unresolvable_ref_names_file_line_and_field(write: WriteFile) -> None:
    text = SIMPLE_TEST.replace(
        "#/assertionTemplates/containsPirateNoise", "#/assertionTemplates/nope"
    )
    write("prompts.txt", "x {{body}}")
    with pytest.raises(ConfigError) as err:
        load_config(write("promptfooconfig.yaml", text))
    message = str(err.value)
    line = text.lstrip("\n").splitlines().index("      - $ref: '#/assertionTemplates/nope'") + 1
    assert f"promptfooconfig.yaml:{line}" in message
    assert "tests[4].assert[1]" in message
    assert "#/assertionTemplates/nope" in message


# ------------------------------------------------------------ examples/eval-customer-support-rubric


def test_example_rubric_default_test_merge(write: WriteFile) -> None:
    write("prompt.txt", "Customer ({{language}}): {{customer_message}}\nContext: {{context}}\n")
    write(
        "tests.csv",
        "customer_message,context,language,__description\n"
        "Where is my refund?,order 12,English,refund\n"
        '"¿Dónde está mi pedido?",order 9,Spanish,order\n',
    )
    path = write(
        "promptfooconfig.yaml",
        """
        # yaml-language-server: $schema=https://promptfoo.dev/config-schema.json
        description: Score a support assistant on five rubric dimensions
        prompts:
          - file://prompt.txt
        providers:
          - id: echo
            label: Mock support assistant
        tests: file://tests.csv
        defaultTest:
          options:
            provider: openai:gpt-4.1-mini
          assert:
            - type: llm-rubric
              metric: correct
              threshold: 0.8
              value: >-
                The reply is factually correct for
                "{{customer_message}}" ({{context}}).
            - type: llm-rubric
              metric: language_fit
              threshold: 0.8
              value: >-
                The reply is in {{language}}.
        """,
    )
    spec = load_config(path)
    assert spec.prompts[0].label == (
        "prompt.txt: Customer ({{language}}): {{customer_message}}\nContext: {{context}}"
    )
    assert [(p.id, p.label) for p in spec.providers] == [("echo", "Mock support assistant")]
    assert len(spec.tests) == 2
    for case in spec.tests:
        assert case.options == {"provider": "openai:gpt-4.1-mini"}
        assert [(a.type, a.metric, a.threshold) for a in case.assertions] == [
            ("llm-rubric", "correct", 0.8),
            ("llm-rubric", "language_fit", 0.8),
        ]
    assert spec.tests[0].assertions[0].value == (
        'The reply is factually correct for "{{customer_message}}" ({{context}}).'
    )
    assert [t.description for t in spec.tests] == ["refund", "order"]
    assert spec.tests[1].vars["customer_message"] == "¿Dónde está mi pedido?"


# ------------------------------------------------------------ the docs' configuration guide


def test_guide_bare_prompt_paths(write: WriteFile) -> None:
    write("prompt1.txt", "Translate to {{language}}: {{input}}")
    write("prompt2.txt", "Convert this to {{language}}: {{input}}")
    path = write(
        "promptfooconfig.yaml",
        """
        prompts: [prompt1.txt, prompt2.txt]
        providers: [openai:gpt-3.5-turbo, localai:chat:vicuna]
        tests:
          - vars:
              language: French
              input: Hello world
            assert:
              - type: contains-json
          - vars:
              language: German
              input: How's it going?
        """,
    )
    spec = load_config(path)
    # promptfoo's maybeFilePath: `prompt1.txt` (no file://) names a file
    assert [p.text for p in spec.prompts] == [
        "Translate to {{language}}: {{input}}",
        "Convert this to {{language}}: {{input}}",
    ]
    assert spec.prompts[0].label == "prompt1.txt: Translate to {{language}}: {{input}}"
    assert [p.id for p in spec.providers] == ["openai:gpt-3.5-turbo", "localai:chat:vicuna"]
    assert len(spec.tests) == 2
    assert _asserts(spec, 0) == [("contains-json", None)]


def test_bare_prompt_path_rules(write: WriteFile) -> None:
    path = write(
        "promptfooconfig.yaml",
        """
        prompts:
          - What is 1/2 of {{n}}?
          - Read https://example.com/{{page}}
        providers: [echo]
        """,
    )
    # path-like text that names no file stays a prompt (promptfoo would find no prompts)
    assert [p.text for p in load_config(path).prompts] == [
        "What is 1/2 of {{n}}?",
        "Read https://example.com/{{page}}",
    ]
    missing = write("promptfooconfig.yaml", "prompts: [prompts/missing.txt]\nproviders: [echo]\n")
    with pytest.raises(ConfigError) as err:
        load_config(missing)
    assert "promptfooconfig.yaml:1" in str(err.value)
    assert "prompts[0]" in str(err.value)
    assert "prompts/missing.txt" in str(err.value)


# ------------------------------------------------------------ every supported feature at once


def _feature_project(write: WriteFile) -> Path:
    write("prompts/a.txt", "A: {{topic}}")
    write("prompts/b.txt", "B: {{topic}}\n---\nB2: {{topic}}")
    write(
        "prompts/chat.json",
        '[\n  {"role": "system", "content": "Be brief"},\n'
        '  {"role": "user", "content": "{{topic}}"}\n]\n',
    )
    write("prompts/guide.md", "# Guide\n---\nTalk about {{topic}}\n")
    write("default.yaml", "vars:\n  tone: dry\nassert:\n  - type: latency\n    threshold: 5000\n")
    write("docs/one.txt", "  first doc  \n")
    write("docs/two.txt", "second doc\n")
    write("expected.txt", "Paris\n")
    write("transform.js", "module.exports = (output) => output.trim();\n")
    write(
        "cases/more.yaml",
        """
        - description: from yaml
          vars: {topic: yaml}
          options: {transform: file://transform.js}
          assert:
            - type: contains
              value: file://expected.txt
        """,
    )
    write(
        "cases/rows.csv",
        "topic,__expected,__expected1,__expected2,__expected3\n"
        'csv1,not-contains: x,similar(0.9): close text,"contains-any: a, b",plain answer\n'
        "csv2,javascript: output.length < 50,grade: is polite,file://check.py,\n",
    )
    return write(
        "promptfooconfig.yaml",
        """
        description: every feature
        env:
          REGION: eu
        sharing: false
        writeLatestResults: true
        outputPath: [out.json, out.html]
        evaluateOptions:
          maxConcurrency: 2
          repeat: 3
          delay: 100
          cache: false
          timeoutMs: 30000
          showProgressBar: false
          generateSuggestions: false
        prompts:
          - file://prompts/*.txt
          - file://prompts/chat.json
          - id: file://prompts/guide.md
            label: Guide
          - id: inline-1
            label: Inline one
            raw: "Say {{topic}}"
        providers:
          - openai:gpt-4.1-mini:
              label: mini
              config:
                <<: &common {temperature: 0, max_tokens: 100}
                max_tokens: 200
          - openai:chat:
              id: openai:gpt-4.1
              config: *common
          - id: anthropic:messages:claude-sonnet-4-5
            label: sonnet
            config: {<<: *common, temperature: 0.5}
        defaultTest: file://default.yaml
        tests:
          - description: inline
            vars:
              topic: [cats, dogs]
              doc: file://docs/*.txt
            options:
              transform: output.toUpperCase()
            threshold: 0.5
            assert:
              - type: contains
                value: file://expected.txt
                weight: 2
                metric: geo
              - type: icontains
                value: paris
                threshold: 0.9
          - file://cases/more.yaml
          - file://cases/rows.csv
        """,
    )


def test_feature_config_prompts(write: WriteFile) -> None:
    spec = load_config(_feature_project(write))
    labels = [p.label for p in spec.prompts]
    assert labels == [
        "prompts/a.txt: A: {{topic}}",
        "prompts/b.txt: B: {{topic}}",
        "prompts/b.txt: B2: {{topic}}",
        # processJsonFile: valid JSON is re-serialised compactly, label `path: raw`
        'prompts/chat.json: [{"role":"system","content":"Be brief"},'
        '{"role":"user","content":"{{topic}}"}]',
        "Guide",
        "Inline one",
    ]
    assert spec.prompts[3].text == (
        '[{"role":"system","content":"Be brief"},{"role":"user","content":"{{topic}}"}]'
    )
    assert spec.prompts[4].text == "# Guide\n---\nTalk about {{topic}}\n"  # markdown is whole
    assert [p.id for p in spec.prompts[:5]] == [_sha(label) for label in labels[:5]]
    assert spec.prompts[5].id == "inline-1"  # ours: an id you give is kept


def test_feature_config_providers_and_options(write: WriteFile) -> None:
    spec = load_config(_feature_project(write))
    assert [(p.id, p.label, p.config) for p in spec.providers] == [
        ("openai:gpt-4.1-mini", "mini", {"temperature": 0, "max_tokens": 200}),
        # map form: providerObject.id || key
        ("openai:gpt-4.1", None, {"temperature": 0, "max_tokens": 100}),
        ("anthropic:messages:claude-sonnet-4-5", "sonnet", {"temperature": 0.5, "max_tokens": 100}),
    ]
    options = spec.options
    assert (options.max_concurrency, options.repeat, options.delay_ms) == (2, 3, 100)
    assert (options.cache, options.timeout_s) == (False, 30.0)
    assert spec.raw_config["env"] == {"REGION": "eu"}


def test_feature_config_tests(write: WriteFile) -> None:
    spec = load_config(_feature_project(write))
    # 2 topics x 2 doc files, then 1 yaml test, then 2 csv rows
    assert len(spec.tests) == 4 + 1 + 2
    inline = spec.tests[:4]
    assert [(t.vars["topic"], t.vars["doc"]) for t in inline] == [
        ("cats", "first doc"),
        ("cats", "second doc"),
        ("dogs", "first doc"),
        ("dogs", "second doc"),
    ]
    for case in spec.tests:
        assert case.vars["tone"] == "dry"  # defaultTest from a file
        assert case.assertions[0].type == "latency"  # defaultTest's assertions come first
        assert case.assertions[0].threshold == 5000
    first = inline[0]
    assert first.options == {"transform": "output.toUpperCase()"}
    assert first.threshold == 0.5
    contains, icontains = first.assertions[1:]
    assert (contains.value, contains.weight, contains.metric) == ("file://expected.txt", 2.0, "geo")
    assert (icontains.threshold, icontains.weight) == (0.9, 1.0)
    from_yaml = spec.tests[4]
    assert from_yaml.description == "from yaml"
    assert from_yaml.options == {"transform": "file://transform.js"}
    assert [(a.type, a.value) for a in from_yaml.assertions[1:]] == [
        ("contains", "file://expected.txt")
    ]
    row1, row2 = spec.tests[5:]
    assert [(a.type, a.value, a.threshold) for a in row1.assertions[1:]] == [
        ("not-contains", "x", None),
        ("similar", "close text", 0.9),
        ("contains-any", ["a", "b"], None),
        ("equals", "plain answer", None),
    ]
    assert [(a.type, a.value) for a in row2.assertions[1:]] == [
        ("javascript", "output.length < 50"),
        ("llm-rubric", " is polite"),
        ("python", "check.py"),
    ]
    assert row2.vars == {"topic": "csv2", "tone": "dry"}


def test_bad_value_in_a_test_file_names_file_line_and_field(write: WriteFile) -> None:
    write("cases.yaml", "- vars: {a: 1}\n  assert:\n    - type: contains\n      threshold: high\n")
    path = write(
        "promptfooconfig.yaml", "prompts: [hi]\nproviders: [echo]\ntests: [file://cases.yaml]\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "cases.yaml:4" in message
    assert "[0].assert[0].threshold" in message
    assert "'high'" in message


def test_csv_prompt_file_is_refused_not_misread(write: WriteFile) -> None:
    write("prompts.csv", "prompt,label\nHi {{x}},greeting\n")
    path = write("promptfooconfig.yaml", "prompts:\n  - file://prompts.csv\nproviders: [echo]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "promptfooconfig.yaml:2" in str(err.value)
    assert "prompts[0]" in str(err.value)
    assert "CSV prompt files" in str(err.value)
