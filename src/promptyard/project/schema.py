"""The JSON Schema of promptyard.yaml: a superset of promptfoo's config, for editors.

`promptyard schema` prints it; `promptyard init` writes it beside the config, whose first line
points the YAML language server at it. It describes what the loader reads (project/loader.py is
the authority: it names the file, line and field of anything wrong) and leaves unknown keys open,
so a promptfoo config that runs here never shows a false error in an editor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SCHEMA_ID = "https://promptyard.dev/schema/promptyard.schema.json"
SCHEMA_FILE = "promptyard.schema.json"

_STR = {"type": "string"}
_NUM = {"type": "number"}
_INT = {"type": "integer", "minimum": 1}
_OBJ = {"type": "object"}
_STR_LIST = {"type": "array", "items": _STR}


def _text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _one_or_many(item: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "anyOf": [item, {"type": "array", "items": item}]}


def config_schema(assertion_types: Iterable[str]) -> dict[str, Any]:
    """The schema, with `assertion_types` (the scorer registry's names) as the known types;
    `not-` forms of them are accepted as promptfoo accepts them."""
    types = sorted(set(assertion_types))
    assertion = {
        "type": "object",
        "description": "One check on an output (docs/scorers.md).",
        "properties": {
            "type": {
                "description": "The assertion type; `not-` negates a type where it has meaning.",
                "anyOf": [{"enum": types}, {"type": "string", "pattern": "^not-"}, _STR],
            },
            "value": {"description": "What to check against: text, a list, a file:// "
                      "reference, code or a rubric, depending on the type."},
            "threshold": {**_NUM, "description": "The score needed to pass (types with scores)."},
            "weight": {**_NUM, "minimum": 0, "description": "Its share of the test's score."},
            "metric": _text("A named metric this assertion's score counts toward."),
            "provider": {"description": "The judge or embedding model of a model-graded type.",
                         "anyOf": [_STR, _OBJ]},
            "transform": _text("Code that rewrites the output before this check."),
            "rubricPrompt": {"description": "The judge's prompt, replacing the default.",
                             "anyOf": [_STR, {"type": "array"}]},
            "config": _OBJ,
            "assert": {"type": "array", "description": "Children of an assert-set."},
        },
        "required": ["type"],
    }  # fmt: skip
    test_options = {
        "type": "object",
        "description": "Options of a test: its judge (provider), transforms, prefixes.",
        "properties": {
            "provider": {"anyOf": [_STR, _OBJ]},
            "transform": _STR,
            "prefix": _STR,
            "suffix": _STR,
            "rubricPrompt": {"anyOf": [_STR, {"type": "array"}]},
        },
    }
    test = {
        "type": "object",
        "description": "A test case: variables for the prompt and checks on the output.",
        "properties": {
            "description": _STR,
            "vars": {"description": "Template variables (or a file:// reference to them).",
                     "anyOf": [_OBJ, _STR]},
            "assert": {"type": "array", "items": assertion},
            "options": test_options,
            "threshold": {**_NUM, "description": "The weighted score the test needs to pass."},
            "metadata": _OBJ,
            "split": {"enum": ["train", "val", "test"],
                      "description": "Held for the optimizer: train, val or test."},
            "provider": {"anyOf": [_STR, _OBJ]},
            "providerOutput": {"description": "A fixed output to grade instead of calling."},
        },
    }  # fmt: skip
    provider = {
        "description": "A model: `openai:gpt-4.1-mini`, `anthropic:messages:claude-sonnet-4-5`,"
        " `ollama:llama3.2`, `echo`, `python:file.py:fn`, or an object with its config.",
        "anyOf": [
            _STR,
            {
                "type": "object",
                "properties": {
                    "id": _STR,
                    "label": _STR,
                    "config": {
                        "type": "object",
                        "properties": {
                            "apiBaseUrl": _STR,
                            "apiKeyEnvar": _text("The environment variable holding the key."),
                            "temperature": _NUM,
                            "max_tokens": {"type": "integer"},
                            "maxConcurrency": _INT,
                            "transport": {"enum": ["aiohttp", "sdk"]},
                        },
                    },
                    "prompts": _STR_LIST,
                },
            },
        ],
    }
    prompt = {
        "anyOf": [
            _text("A template (Nunjucks/Jinja), a file:// reference or a glob."),
            {
                "type": "object",
                "properties": {"id": _STR, "label": _STR, "raw": _STR, "config": _OBJ},
            },
        ]
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "Promptyard project (promptyard.yaml; promptfoo configs too)",
        "type": "object",
        "properties": {
            "$schema": _STR,
            "description": _STR,
            "prompts": {
                "description": "Prompt templates: a list, a map of file to label, or a glob.",
                "anyOf": [prompt, {"type": "array", "items": prompt}, _OBJ],
            },
            "providers": _one_or_many(provider, "The models to evaluate."),
            "targets": _one_or_many(provider, "promptfoo's alias of `providers`."),
            "tests": {
                "description": "Test cases: a list, or a file (CSV, JSONL, JSON, YAML).",
                "anyOf": [_STR, {"type": "array", "items": {"anyOf": [test, _STR]}}],
            },
            "defaultTest": {"description": "Merged into every test.", "anyOf": [test, _STR]},
            "scenarios": {"type": "array", "items": _OBJ},
            "evaluateOptions": {
                "type": "object",
                "properties": {
                    "maxConcurrency": _INT,
                    "repeat": _INT,
                    "delay": {"type": "integer", "minimum": 0},
                    "cache": {"type": "boolean"},
                    "timeoutMs": _INT,
                },
            },
            "env": {"type": "object", "additionalProperties": _STR},
            "profiles": {"type": "object", "description": "Named providers with config."},
            "judge_profile": _text("The profile that grades model-graded assertions."),
            "metrics": {"type": "array", "description": "Named judge metrics."},
            "kpis": {"type": "array", "description": "Weighted KPIs (docs/config.md)."},
            "additional_kpis": {"type": "array"},
            "kpi_threshold": _NUM,
            "derivedMetrics": {"type": "array", "items": _OBJ},
            "tags": _OBJ,
            "metadata": _OBJ,
            "outputPath": {"anyOf": [_STR, _STR_LIST]},
            "sharing": {},
            "writeLatestResults": {"type": "boolean"},
            "assertionTemplates": _OBJ,
        },
    }
