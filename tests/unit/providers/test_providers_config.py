"""Config-key normalisation, provider id parsing, and the registry's errors."""

from __future__ import annotations

import pytest

from promptyard.core.types import ProviderSpec
from promptyard.errors import ConfigError
from promptyard.providers import create_provider, known_prefixes, normalize_config
from promptyard.providers.config import split_model
from promptyard.providers.openai_http import OpenAICompatProvider
from promptyard.providers.openai_sdk import OpenAISDKProvider
from promptyard.providers.pyfunc import parse_python_id
from promptyard.providers.registry import register_provider, unregister_provider
from promptyard.trust import TrustPolicy

LOCAL_TRUST = TrustPolicy()  # the local user's policy


WHERE = "promptyard.yaml: providers[1]"


def test_promptfoo_keys_become_ours() -> None:
    cfg = normalize_config(
        {
            "apiBaseUrl": "http://h/v1",
            "apiKey": "k",
            "apiKeyEnvar": "MY_KEY",
            "maxTokens": 10,
            "timeoutMs": 1500,
            "passthrough": {"a": 1},
            "extra_body": {"b": 2},
            "temperature": 0.2,
        }
    )
    assert cfg == {
        "base_url": "http://h/v1",
        "api_key": "k",
        "api_key_env": "MY_KEY",
        "max_tokens": 10,
        "timeout": 1.5,
        "extra_body": {"a": 1, "b": 2},
        "temperature": 0.2,
    }


def test_api_host_gets_a_scheme_and_v1() -> None:
    assert normalize_config({"apiHost": "api.example.com"})["base_url"] == (
        "https://api.example.com/v1"
    )


def test_conflicting_spellings_are_an_error_naming_both() -> None:
    with pytest.raises(ConfigError, match=r"providers\[1\].*apiKey.*api_key|api_key.*apiKey"):
        normalize_config({"api_key": "a", "apiKey": "b"}, WHERE)
    assert normalize_config({"api_key": "a", "apiKey": "a"}) == {"api_key": "a"}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"temperature": "hot"}, "config.temperature"),
        ({"max_tokens": 1.5}, "config.max_tokens"),
        ({"max_concurrency": 0}, "config.max_concurrency"),
        ({"timeout": -1}, "config.timeout"),
        ({"headers": ["x"]}, "config.headers"),
        ({"transport": "grpc"}, "config.transport"),
        ({"requests_per_minute": 0}, "config.requests_per_minute"),
    ],
)
def test_bad_values_name_where_and_field(config: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        normalize_config(config, WHERE)
    assert WHERE in str(info.value)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("pid", "prefix", "model"),
    [
        ("openai:gpt-4o", "openai", "gpt-4o"),
        ("openai:chat:gpt-4o", "openai", "gpt-4o"),
        ("ollama:llama3.2:1b", "ollama", "llama3.2:1b"),
        ("ollama:chat:llama3.2:1b", "ollama", "llama3.2:1b"),
        ("anthropic:messages:claude-x", "anthropic", "claude-x"),
    ],
)
def test_split_model(pid: str, prefix: str, model: str) -> None:
    kinds = ("messages", "chat") if prefix == "anthropic" else ("chat",)
    assert split_model(pid, prefix, kinds) == model


@pytest.mark.parametrize(
    ("pid", "path", "fn"),
    [
        ("python:provider.py", "provider.py", "call_api"),
        ("python:lib/p.py:answer", "lib/p.py", "answer"),
        ("file://p.py", "p.py", "call_api"),
        ("file://dir/p.py:run", "dir/p.py", "run"),
        ("python:C:\\x\\p.py", "C:\\x\\p.py", "call_api"),
    ],
)
def test_parse_python_id(pid: str, path: str, fn: str) -> None:
    assert parse_python_id(pid) == (path, fn)


def test_unknown_prefix_names_where_and_lists_known() -> None:
    with pytest.raises(ConfigError) as info:
        create_provider(ProviderSpec(id="bogus:model", where=WHERE), trust=LOCAL_TRUST)
    text = str(info.value)
    assert WHERE in text and "bogus:model" in text
    for prefix in ("openai", "anthropic", "ollama", "echo", "python", "scripted"):
        assert prefix in text
    assert set(known_prefixes()) >= {"openai", "vllm", "openai-compatible", "file"}


def test_transport_choice_and_model_parsing() -> None:
    p = create_provider(ProviderSpec(id="openai:chat:gpt-4o-mini"), trust=LOCAL_TRUST)
    assert isinstance(p, OpenAICompatProvider) and not isinstance(p, OpenAISDKProvider)
    assert p.model == "gpt-4o-mini"
    assert p.base_url == "https://api.openai.com/v1"
    sdk = create_provider(
        ProviderSpec(id="openai:gpt-4o-mini", config={"transport": "sdk"}), trust=LOCAL_TRUST
    )
    assert isinstance(sdk, OpenAISDKProvider)
    local = create_provider(ProviderSpec(id="ollama:llama3.2"), trust=LOCAL_TRUST)
    assert isinstance(local, OpenAICompatProvider)
    assert local.base_url == "http://127.0.0.1:11434/v1"


def test_bad_ids() -> None:
    with pytest.raises(ConfigError, match="legacy completions"):
        create_provider(
            ProviderSpec(id="openai:completion:davinci", where=WHERE), trust=LOCAL_TRUST
        )
    with pytest.raises(ConfigError, match="names no model"):
        create_provider(ProviderSpec(id="openai", where=WHERE), trust=LOCAL_TRUST)
    with pytest.raises(ConfigError, match=r"\.py"):
        create_provider(ProviderSpec(id="file://provider.js", where=WHERE), trust=LOCAL_TRUST)


def test_cache_identity_ignores_secrets_and_limits() -> None:
    a = create_provider(
        ProviderSpec(id="openai:gpt-4o-mini", config={"apiKey": "one", "max_concurrency": 2}),
        trust=LOCAL_TRUST,
    )
    b = create_provider(
        ProviderSpec(id="openai:gpt-4o-mini", config={"api_key": "two", "max_concurrency": 9}),
        trust=LOCAL_TRUST,
    )
    c = create_provider(
        ProviderSpec(id="openai:gpt-4o-mini", config={"temperature": 1}), trust=LOCAL_TRUST
    )
    assert a.cache_identity() == b.cache_identity()
    assert a.cache_identity() != c.cache_identity()
    assert "one" not in repr(a.cache_identity())


def test_register_a_plugin_prefix() -> None:
    from promptyard.providers.echo import EchoProvider

    register_provider("myecho", lambda spec, base_dir: EchoProvider(spec), replace=True)
    try:
        assert isinstance(
            create_provider(ProviderSpec(id="myecho:x"), trust=LOCAL_TRUST), EchoProvider
        )
        with pytest.raises(ValueError, match="already registered"):
            register_provider("myecho", lambda spec, base_dir: EchoProvider(spec))
    finally:
        unregister_provider("myecho")
    assert "myecho" not in known_prefixes()
