"""promptfoo configs with features that need the engine, run through the CLI against the stub
LLM (which answers with the last user message): storeOutputAs, `_conversation`,
providerOutput and a provider's `prompts`."""

from __future__ import annotations

from tests.e2e.clitools import Project, provider_yaml, read_json


def _rows(project: Project) -> list[dict]:  # type: ignore[type-arg]
    return list(read_json(project.root / "out.json")["results"]["results"])


def test_store_output_as_reaches_later_tests_in_order(project: Project) -> None:
    tests = (
        "  - vars: {message: apple}\n    options: {storeOutputAs: fruit}\n"
        "  - vars: {message: 'why {{fruit}}'}\n    options: {storeOutputAs: reason}\n"
        "  - vars: {message: 'rebut {{reason}} about {{fruit}}'}\n"
        "    assert: [{type: equals, value: 'rebut why apple about apple'}]\n"
    )
    project.config(
        tests,
        prompts='  - "{{message}}"\n',
        name="promptfooconfig.yaml",
        extra="evaluateOptions: {maxConcurrency: 4}\n",
    )
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json")
    assert result.returncode == 0, str(result)
    sent = [r["body"]["messages"][-1]["content"] for r in project.stub.requests]
    assert sent == ["apple", "why apple", "rebut why apple about apple"]


def test_conversation_threads_by_conversation_id(project: Project) -> None:
    prompt = '  - "{% for t in _conversation %}{{t.input}}={{t.output}};{% endfor %}{{question}}"\n'
    tests = (
        "  - vars: {question: q1}\n    metadata: {conversationId: a}\n"
        "  - vars: {question: r1}\n    metadata: {conversationId: b}\n"
        "  - vars: {question: q2}\n    metadata: {conversationId: a}\n"
    )
    project.config(tests, prompts=prompt, name="promptfooconfig.yaml")
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json")
    assert result.returncode == 0, str(result)
    assert [r["response"]["output"] for r in _rows(project)] == ["q1", "r1", "q1=q1;q2"]


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


def test_promptfoos_multi_turn_example_sends_the_earlier_turns(project: Project) -> None:
    """examples/multiple-turn-conversation, unchanged but for the provider."""
    project.write(
        "prompt.json",
        '[\n  {"role": "system", "content": "{{ system_message }}"},\n'
        "  {% for completion in _conversation %}\n"
        '    {"role": "user",\n'
        '     "content": "{{ completion.prompt[completion.prompt.length - 1].content }}"},\n'
        '    {"role": "assistant", "content": "{{ completion.output }}"},\n'
        "  {% endfor %}\n"
        '  {"role": "user", "content": "{{ question }}"}\n]\n',
    )
    tests = (
        "  - vars: {question: Who founded Facebook?}\n    metadata: {conversationId: fb}\n"
        "  - vars: {question: Whats a good recipe?}\n    metadata: {conversationId: food}\n"
        "  - vars: {question: Where does he live?}\n    metadata: {conversationId: fb}\n"
    )
    extra = "defaultTest:\n  vars:\n    system_message: You are a helpful assistant\n"
    prompts = "  - id: file://prompt.json\n    label: multi-turn-conversation\n"
    project.config(tests, prompts=prompts, extra=extra, name="promptfooconfig.yaml")
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json")
    assert result.returncode == 0, str(result)
    last = project.stub.requests[-1]["body"]["messages"]
    assert [(m["role"], m["content"]) for m in last] == [
        ("system", "You are a helpful assistant"),
        ("user", "Who founded Facebook?"),
        ("assistant", "Who founded Facebook?"),
        ("user", "Where does he live?"),
    ]


def test_per_prompt_config_is_merged_into_the_providers(project: Project) -> None:
    prompts = (
        "  - {raw: 'A {{word}}', label: plain}\n"
        "  - {raw: 'B {{word}}', label: hot, config: {temperature: 0.7, max_tokens: 5}}\n"
    )
    providers = provider_yaml(project.stub.base_url, temperature=0.1)
    project.config(
        "  - vars: {word: x}\n", prompts=prompts, providers=providers, name="promptfooconfig.yaml"
    )
    result = project.eval("-c", "promptfooconfig.yaml", "-o", "out.json")
    assert result.returncode == 0, str(result)
    sent = {
        r["body"]["messages"][-1]["content"]: (
            r["body"]["temperature"],
            r["body"].get("max_tokens"),
        )
        for r in project.stub.requests
    }
    assert sent == {"A x": (0.1, None), "B x": (0.7, 5)}
