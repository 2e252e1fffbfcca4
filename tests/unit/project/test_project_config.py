"""Loading whole configs: keys, prompts, providers, profiles, options, and config errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from promptyard.errors import ConfigError, TemplateError
from promptyard.project import find_config, load_config, load_config_dict

WriteFile = Callable[[str, str], Path]

BASE = """
prompts: ["Say {{ word }}"]
providers: [echo]
"""


def test_find_config_prefers_promptyard_then_promptfoo(tmp_path: Path, write: WriteFile) -> None:
    write("promptfooconfig.json", "{}")
    assert find_config(tmp_path).name == "promptfooconfig.json"
    write("promptfooconfig.yaml", BASE)
    assert find_config(tmp_path).name == "promptfooconfig.yaml"
    write("promptyard.yml", BASE)
    assert find_config(tmp_path).name == "promptyard.yml"
    write("promptyard.yaml", BASE)
    assert find_config(tmp_path).name == "promptyard.yaml"


def test_find_config_error_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        find_config(tmp_path)
    assert str(tmp_path) in str(err.value)
    assert "promptyard.yaml" in str(err.value)


def test_load_config_accepts_a_directory_and_records_paths(
    tmp_path: Path, write: WriteFile
) -> None:
    write("promptyard.yaml", BASE + "description: smoke\n")
    spec = load_config(tmp_path)
    assert spec.description == "smoke"
    assert spec.base_dir == str(tmp_path.resolve())
    assert spec.config_path == str((tmp_path / "promptyard.yaml").resolve())
    assert spec.raw_config["description"] == "smoke"
    assert [p.text for p in spec.prompts] == ["Say {{ word }}"]
    assert [p.id for p in spec.providers] == ["echo"]
    assert len(spec.tests) == 1  # no tests: one empty test, as promptfoo runs
    assert spec.tests[0].vars == {}


def test_promptfoo_json_config_loads(write: WriteFile) -> None:
    path = write(
        "promptfooconfig.json",
        json.dumps({"prompts": ["Hi {{n}}"], "providers": ["echo"], "tests": [{"vars": {"n": 1}}]}),
    )
    spec = load_config(path)
    assert spec.tests[0].vars == {"n": 1}


# ------------------------------------------------------------ prompts


def test_prompt_forms(write: WriteFile) -> None:
    write("p/multi.txt", "First {{ a }}\n---\n\nSecond {{ b }}\n  ---  \nThird\n")
    write("p/chat.json", '[{"role": "user", "content": "{{ q }}"}]\n')
    write(
        "p/chat.yaml", "- role: system\n  content: Be brief\n- role: user\n  content: '{{ q }}'\n"
    )
    write("p/lines.jsonl", '[{"role":"user","content":"one"}]\n[{"role":"user","content":"two"}]\n')
    write("p/doc.md", "# Title\n---\nmarkdown keeps --- lines\n")
    path = write(
        "promptyard.yaml",
        """
        prompts:
          - "Inline {{ x }}"
          - file://p/multi.txt
          - file://p/chat.json
          - file://p/chat.yaml
          - file://p/lines.jsonl
          - file://p/doc.md
          - id: greet
            label: Greeting
            raw: "Hello {{ name }}"
          - id: file://p/chat.json
            label: Labeled chat
          - - role: system
              content: sys
            - role: user
              content: "{{ q }}"
        providers: [echo]
        """,
    )
    prompts = load_config(path).prompts
    texts = [p.text for p in prompts]
    assert texts[0] == "Inline {{ x }}"
    assert prompts[0].label == "Inline {{ x }}"
    assert texts[1:4] == ["First {{ a }}", "Second {{ b }}", "Third"]
    assert prompts[1].label == "p/multi.txt: First {{ a }}"
    assert prompts[1].source == "p/multi.txt"
    # promptfoo keeps a .json chat prompt as (compact) JSON text, parsed after rendering
    assert prompts[4].text == '[{"role":"user","content":"{{ q }}"}]'
    assert prompts[4].messages is None
    assert prompts[5].messages == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "{{ q }}"},
    ]
    assert json.loads(prompts[5].text) == prompts[5].messages
    assert [p.text for p in prompts[6:8]] == [
        '[{"role":"user","content":"one"}]',
        '[{"role":"user","content":"two"}]',
    ]
    assert prompts[8].text == "# Title\n---\nmarkdown keeps --- lines\n"
    assert (prompts[9].id, prompts[9].label, prompts[9].text) == (
        "greet",
        "Greeting",
        "Hello {{ name }}",
    )
    assert prompts[10].label == "Labeled chat"
    assert prompts[11].messages == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "{{ q }}"},
    ]
    assert len(prompts) == 12
    # ids are promptfoo's: the SHA-256 of the label unless given
    assert prompts[4].id == hashlib.sha256(prompts[4].label.encode()).hexdigest()
    assert prompts[4].id != prompts[10].id


def test_prompt_globs_and_legacy_map(write: WriteFile) -> None:
    write("p/b.txt", "B")
    write("p/a.txt", "A")
    path = write(
        "promptyard.yaml",
        """
        prompts:
          file://p/*.txt: Both
        providers: [echo]
        """,
    )
    prompts = load_config(path).prompts
    assert [p.text for p in prompts] == ["A", "B"]
    # promptfoo: a glob adds `: path` to the label, then the text file adds `path: text`
    assert [p.label for p in prompts] == ["Both: p/a.txt: p/a.txt: A", "Both: p/b.txt: p/b.txt: B"]


def test_prompt_template_syntax_error_names_file_and_line(write: WriteFile) -> None:
    write("bad.txt", "ok line\n{% if x %}never closed\n")
    path = write("promptyard.yaml", "prompts: [file://bad.txt]\nproviders: [echo]\n")
    with pytest.raises(TemplateError) as err:
        load_config(path)
    assert "bad.txt:2" in str(err.value)


def test_missing_prompt_file_names_field_and_path(write: WriteFile) -> None:
    path = write("promptyard.yaml", "prompts:\n  - file://nope.txt\nproviders: [echo]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "promptyard.yaml:2" in message
    assert "prompts[0]" in message
    assert "nope.txt" in message


def test_chat_message_without_role_is_rejected(write: WriteFile) -> None:
    path = write(
        "promptyard.yaml",
        """
        prompts:
          - - content: hi
        providers: [echo]
        """,
    )
    with pytest.raises(ConfigError, match=r"prompts\[0\]\[0\].*role"):
        load_config(path)


# ------------------------------------------------------------ providers and profiles


def test_provider_forms_and_profiles(write: WriteFile) -> None:
    write(
        "providers.yaml",
        """
        - id: openai:gpt-4.1
          config: {temperature: 0.2}
        - anthropic:claude-sonnet-4-5
        """,
    )
    path = write(
        "promptyard.yaml",
        """
        prompts: [hi]
        profiles:
          fast:
            id: openai:gpt-4.1-nano
            label: Fast
            config: {temperature: 0, max_tokens: 50}
          local: ollama:llama3.2
        providers:
          - echo
          - id: openai:gpt-4.1-mini
            label: mini
            config: {temperature: 0.7}
          - openai:o3:
              label: o3
              config: {reasoning_effort: low}
          - file://providers.yaml
          - fast
          - profile: fast
            config: {max_tokens: 500}
          - id: local
            label: my llama
        """,
    )
    providers = load_config(path).providers
    assert [(p.id, p.label) for p in providers] == [
        ("echo", None),
        ("openai:gpt-4.1-mini", "mini"),
        ("openai:o3", "o3"),
        ("openai:gpt-4.1", None),
        ("anthropic:claude-sonnet-4-5", None),
        ("openai:gpt-4.1-nano", "Fast"),
        ("openai:gpt-4.1-nano", "Fast"),
        ("ollama:llama3.2", "my llama"),
    ]
    assert providers[1].config == {"temperature": 0.7}
    assert providers[2].config == {"reasoning_effort": "low"}
    assert providers[3].config == {"temperature": 0.2}
    assert providers[3].where == "providers.yaml: [0]"
    assert providers[5].config == {"temperature": 0, "max_tokens": 50}
    assert providers[6].config == {"temperature": 0, "max_tokens": 500}  # own keys on top
    assert providers[1].where == "promptyard.yaml: providers[1]"
    assert providers[1].name == "mini"


def test_targets_is_an_alias_for_providers(write: WriteFile) -> None:
    path = write("promptfooconfig.yaml", "prompts: [hi]\ntargets: [echo]\n")
    assert [p.id for p in load_config(path).providers] == ["echo"]


def test_unknown_profile_suggests_the_closest(write: WriteFile) -> None:
    path = write(
        "promptyard.yaml",
        """
        prompts: [hi]
        profiles: {fast: {id: echo}}
        providers:
          - profile: fsat
        """,
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "promptyard.yaml:4" in message
    assert "providers[0].profile" in message
    assert 'did you mean "fast"' in message


def test_provider_without_id_is_rejected(write: WriteFile) -> None:
    path = write("promptyard.yaml", "prompts: [hi]\nproviders:\n  - label: x\n")
    with pytest.raises(ConfigError, match=r"providers\[0\]\.id"):
        load_config(path)


def test_unsupported_provider_key_says_why(write: WriteFile) -> None:
    path = write("promptyard.yaml", "prompts: [hi]\nproviders:\n  - id: echo\n    transform: x\n")
    with pytest.raises(
        ConfigError, match=r'providers\[0\]\.transform: "transform" is not supported'
    ):
        load_config(path)


# ------------------------------------------------------------ evaluateOptions and overrides


def test_evaluate_options_map_to_eval_options(write: WriteFile) -> None:
    path = write(
        "promptyard.yaml",
        BASE
        + """
        evaluateOptions:
          maxConcurrency: 8
          repeat: 3
          delay: 250
          cache: false
          timeoutMs: 1500
          maxRetries: 2
          showProgressBar: false
        """.replace("\n        ", "\n"),
    )
    options = load_config(path).options
    assert (options.max_concurrency, options.repeat, options.delay_ms) == (8, 3, 250)
    assert options.cache is False
    assert options.timeout_s == 1.5
    assert options.max_retries == 2


def test_overrides_win_over_the_file(write: WriteFile) -> None:
    path = write("promptyard.yaml", BASE + "evaluateOptions: {maxConcurrency: 8, repeat: 2}\n")
    options = load_config(path, overrides={"max_concurrency": 1, "repeat": None}).options
    assert options.max_concurrency == 1
    assert options.repeat == 2  # None means "not given"


def test_bad_override_is_named(write: WriteFile) -> None:
    path = write("promptyard.yaml", BASE)
    with pytest.raises(ConfigError, match=r'unknown override "max_concurency".*max_concurrency'):
        load_config(path, overrides={"max_concurency": 3})
    with pytest.raises(ConfigError, match="repeat"):
        load_config(path, overrides={"repeat": 0})


def test_bad_evaluate_option_names_field_and_line(write: WriteFile) -> None:
    path = write("promptyard.yaml", BASE + "evaluateOptions:\n  maxConcurrency: lots\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "promptyard.yaml:4" in str(err.value)
    assert "evaluateOptions.maxConcurrency" in str(err.value)


# ------------------------------------------------------------ top-level key errors


def test_yaml_syntax_error_names_file_and_line(write: WriteFile) -> None:
    path = write("promptyard.yaml", "prompts: [hi]\nproviders: [echo\ntests: []\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.file == "promptyard.yaml"
    assert err.value.line == 3
    assert "YAML syntax error" in str(err.value)


def test_unknown_top_level_key_suggests_the_closest(write: WriteFile) -> None:
    path = write("promptyard.yaml", "promtps: [hi]\nproviders: [echo]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith("promptyard.yaml:1")
    assert 'unknown key "promtps"' in message
    assert 'did you mean "prompts"' in message


@pytest.mark.parametrize("key", ["redteam", "extensions"])
def test_unsupported_promptfoo_keys_fail_clearly(write: WriteFile, key: str) -> None:
    path = write("promptfooconfig.yaml", BASE + f"{key}: {{}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "promptfooconfig.yaml:3" in message
    assert f'"{key}" is not supported' in message


def test_harmless_promptfoo_keys_are_ignored(write: WriteFile) -> None:
    extra = "outputPath: out.json\nsharing: false\ntags: {team: a}\nwriteLatestResults: true\n"
    spec = load_config(write("promptfooconfig.yaml", BASE + extra))
    assert spec.raw_config["outputPath"] == "out.json"
    # sharing (true or a server mapping) publishes results in promptfoo: never a verdict
    sharing = "sharing:\n  apiBaseUrl: https://x.example\n"
    assert load_config(write("promptfooconfig.yaml", BASE + sharing)).tests


def test_yaml_scalars_follow_yaml_1_2_like_promptfoo(write: WriteFile) -> None:
    path = write(
        "promptyard.yaml",
        BASE + "tests:\n  - vars: {a: yes, b: on, c: 012, d: 1:30, e: 2024-01-02, f: true}\n",
    )
    assert load_config(path).tests[0].vars == {
        "a": "yes",
        "b": "on",
        "c": 12,
        "d": "1:30",
        "e": "2024-01-02",
        "f": True,
    }


def test_missing_prompts_or_providers(write: WriteFile) -> None:
    with pytest.raises(ConfigError, match="no providers"):
        load_config(write("promptyard.yaml", "prompts: [hi]\n"))
    with pytest.raises(ConfigError, match="no prompts"):
        load_config(write("promptyard.yaml", "providers: [echo]\n"))
    with pytest.raises(ConfigError, match="empty"):
        load_config(write("promptyard.yaml", "# nothing\n"))


def test_load_config_dict_resolves_files_against_base_dir(tmp_path: Path, write: WriteFile) -> None:
    write("data/p.txt", "From file {{ x }}")
    spec = load_config_dict(
        {"prompts": ["file://data/p.txt"], "providers": ["echo"], "tests": [{"vars": {"x": 1}}]},
        base_dir=str(tmp_path),
        source="request",
    )
    assert spec.prompts[0].text == "From file {{ x }}"
    assert spec.tests[0].where == "request: tests[0]"
    with pytest.raises(ConfigError, match=r"^request, tests: expected a list"):
        load_config_dict(
            {"prompts": ["x"], "providers": ["echo"], "tests": 5},
            base_dir=str(tmp_path),
            source="request",
        )
