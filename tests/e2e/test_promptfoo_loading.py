"""A promptfoo config runs end to end through the CLI against the loopback stub model, with
the features a switching user's config carries (see docs/config.md)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.clitools import KEY_ENV, Project, read_json, word_tests

ENV = {KEY_ENV: "k"}

BROKEN = """\
  - description: unknown-type
    vars: {word: dogs}
    assert: [{type: is-htmlx, value: x}]
  - description: unknown-key
    vars: {word: birds}
    assert: [{type: contains, value: birds, reason: typo}]
  - description: missing-var
    vars: {other: fish}
    assert: [{type: contains, value: fish}]
"""


def test_promptfoo_config_runs_with_per_test_problems_errored(project: Project) -> None:
    project.config(word_tests("cats", "owls") + BROKEN, name="promptfooconfig.yaml")
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json", env=ENV)
    assert result.returncode == 100, str(result)
    # The count is said up front; only the two sound tests reached the model.
    assert "3 of 5 tests will not run and are recorded as errored" in result.stderr
    assert project.stub.request_count == 2
    assert "2/5 passed" in result.stdout and "3 errors" in result.stdout
    rows = read_json(Path(project.root / "out.json"))["results"]["results"]
    errors = {r["description"]: r.get("error") for r in rows}
    assert errors["case-cats"] is None
    assert "is-htmlx" in errors["unknown-type"]
    assert 'unknown key "reason"' in errors["unknown-key"]
    assert "undefined variable 'word'" in errors["missing-var"]


def test_promptyard_yaml_with_the_same_problems_fails_before_any_call(project: Project) -> None:
    project.config(word_tests("cats") + BROKEN)
    result = project.eval(env=ENV)
    assert result.returncode == 1, str(result)
    assert 'unknown key "reason"' in result.stderr
    assert project.stub.request_count == 0


def test_a_js_config_runs_unchanged(project: Project) -> None:
    project.write(
        "promptfooconfig.js",
        "module.exports = {\n"
        "  prompts: ['Repeat: {{ word }}'],\n"
        "  providers: [{id: 'openai:chat:stub-model',\n"
        f"    config: {{apiBaseUrl: '{project.stub.base_url}', apiKeyEnvar: '{KEY_ENV}'}}}}],\n"
        "  tests: ['cats', 'owls'].map((word) => ({\n"
        "    vars: {word}, assert: [{type: 'contains', value: word}]})),\n"
        "};\n",
    )
    result = project.eval(env=ENV)  # found in the folder, as promptfoo finds it
    assert result.returncode == 0, str(result)
    assert "2/2 passed" in result.stdout
    assert project.stub.request_count == 2


def test_python_prompt_functions_and_test_generators_run(project: Project) -> None:
    project.write(
        "prompt.py",
        "def ask(context):\n"
        "    return [{'role': 'system', 'content': 'Be terse.'},\n"
        "            {'role': 'user', 'content': 'Repeat: ' + context['vars']['word']}]\n",
    )
    project.write(
        "gen.py",
        "def words(config):\n"
        "    return [{'vars': {'word': w}, 'assert': [{'type': 'contains', 'value': w}]}\n"
        "            for w in config['words']]\n",
    )
    project.config(
        "  - path: file://gen.py:words\n    config: {words: [cats, owls, bats]}\n",
        prompts="  - file://prompt.py:ask\n",
        name="promptfooconfig.yaml",
    )
    result = project.eval("-c", "promptfooconfig.yaml", env=ENV)
    assert result.returncode == 0, str(result)
    assert "3/3 passed" in result.stdout
    sent = [r["body"]["messages"] for r in project.stub.requests]
    assert sorted(m[-1]["content"] for m in sent) == [
        "Repeat: bats",
        "Repeat: cats",
        "Repeat: owls",
    ]
    assert all(m[0] == {"role": "system", "content": "Be terse."} for m in sent)


def test_derived_metrics_run_through_the_cli(project: Project) -> None:
    project.config(
        "  - vars: {word: cats}\n"
        "    assert:\n"
        "      - {type: contains, value: cats, metric: hit}\n"
        "      - {type: contains, value: dogs, metric: miss}\n",
        extra="derivedMetrics:\n  - name: ratio\n    value: 'hit / (hit + miss + 1)'\n",
        name="promptfooconfig.yaml",
    )
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json", env=ENV)
    assert result.returncode == 100, str(result)
    assert '"ratio": 0.5' in (project.root / "out.json").read_text(encoding="utf-8")
