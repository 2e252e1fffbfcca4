"""promptfoo configs with features that need the engine, run through the CLI against the stub
LLM (which answers with the last user message): storeOutputAs, `_conversation`,
providerOutput and a provider's `prompts`."""

from __future__ import annotations

from tests.e2e.clitools import Project, provider_yaml, read_json


def _rows(project: Project) -> list[dict]:  # type: ignore[type-arg]
    return list(read_json(project.root / "out.json")["results"]["results"])


def test_provider_output_is_graded_without_a_call(project: Project) -> None:
    tests = (
        "  - vars: {word: hi}\n    providerOutput: canned answer\n"
        "    assert: [{type: contains, value: canned}]\n"
    )
    project.config(tests, name="promptfooconfig.yaml")
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json")
    assert result.returncode == 0, str(result)
    assert project.stub.request_count == 0
    (row,) = _rows(project)
    assert row["success"] and row["response"]["output"] == "canned answer"


def test_provider_prompts_run_only_the_prompts_named(project: Project) -> None:
    prompts = "  - {raw: 'A {{word}}', label: first}\n  - {raw: 'B {{word}}', label: second}\n"
    providers = provider_yaml(project.stub.base_url) + "    prompts: [second]\n"
    project.config(
        "  - vars: {word: x}\n", prompts=prompts, providers=providers, name="promptfooconfig.yaml"
    )
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json")
    assert result.returncode == 0, str(result)
    assert [r["body"]["messages"][-1]["content"] for r in project.stub.requests] == ["B x"]
