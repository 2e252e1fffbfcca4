"""`promptyard schema` and the editor support `promptyard init` sets up: the JSON Schema of
promptyard.yaml (a superset of promptfoo's), the scaffold's yaml-language-server line, and
a .gitignore that keeps the store out of version control."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.e2e.clitools import REPO, run_cli


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = run_cli("schema", cwd=tmp_path_factory.mktemp("schema"))
    assert result.returncode == 0, result
    data: dict[str, Any] = json.loads(result.stdout)
    jsonschema.Draft7Validator.check_schema(data)
    return data


def errors(schema: dict[str, Any], config: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [e.message for e in validator.iter_errors(config)]


def test_the_schema_knows_every_assertion_type(schema: dict[str, Any]) -> None:
    from promptyard.scorers.registry import assertion_types

    props = schema["properties"]["defaultTest"]["anyOf"][0]["properties"]
    known = props["assert"]["items"]["properties"]["type"]["anyOf"][0]["enum"]
    assert {t.name for t in assertion_types()} <= set(known)
    assert {"contains", "llm-rubric", "javascript", "similar"} <= set(known)


def test_the_bundled_examples_validate(schema: dict[str, Any]) -> None:
    configs = sorted((REPO / "examples").rglob("*.yaml"))
    assert configs
    for path in configs:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "prompts" in data:
            assert errors(schema, data) == [], path


def test_promptfoo_style_configs_validate(schema: dict[str, Any]) -> None:
    """promptfoo's documented forms: prompts as a map or objects, targets, a tests file,
    scenarios, not- types, assert-set, derivedMetrics, providers with config."""
    config = {
        "description": "promptfoo habits",
        "prompts": {"file://a.txt": "A", "file://b.txt": "B"},
        "targets": [{"id": "openai:gpt-4.1-mini",
                     "config": {"temperature": 0, "apiKeyEnvar": "K"}}],
        "defaultTest": {"options": {"provider": "openai:gpt-4.1"}, "assert": [
            {"type": "not-icontains", "value": "sorry"},
            {"type": "assert-set", "threshold": 0.5, "assert": [{"type": "is-json"}]},
        ]},
        "tests": "file://tests/*.yaml",
        "scenarios": [{"config": [{"vars": {"a": 1}}], "tests": [{"vars": {"b": 2}}]}],
        "derivedMetrics": [{"name": "f1", "value": "2 * p * r / (p + r)"}],
        "evaluateOptions": {"maxConcurrency": 4, "repeat": 2, "cache": False},
        "sharing": False,
        "outputPath": ["out.json", "out.html"],
    }  # fmt: skip
    assert errors(schema, config) == []


def test_the_schema_catches_what_an_editor_should_flag(schema: dict[str, Any]) -> None:
    assert errors(schema, {"prompts": ["hi"], "tests": 5})
    assert errors(schema, {"prompts": ["hi"], "evaluateOptions": {"maxConcurrency": 0}})
    assert errors(schema, {"prompts": ["hi"], "tests": [{"assert": [{"value": "no type"}]}]})
    assert errors(schema, {"prompts": ["hi"], "tests": [{"split": "training"}]})


def test_init_sets_up_the_editor_and_git(schema: dict[str, Any], tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project).mkdir()
    (project / ".gitignore").write_text("node_modules/\n")
    result = run_cli("init", str(project), cwd=tmp_path)
    assert result.returncode == 0, result
    config_text = (project / "promptyard.yaml").read_text()
    assert config_text.splitlines()[0] == "# yaml-language-server: $schema=promptyard.schema.json"
    assert json.loads((project / "promptyard.schema.json").read_text()) == schema
    assert errors(schema, yaml.safe_load(config_text)) == []
    assert (project / ".gitignore").read_text().splitlines() == ["node_modules/", ".promptyard/"]
    again = run_cli("init", str(project), "--force", cwd=tmp_path)
    assert again.returncode == 0, again
    assert (project / ".gitignore").read_text().count(".promptyard/") == 1
