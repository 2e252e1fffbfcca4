"""promptfoo's OpenAI-compatible provider prefixes: hosts, key variables, the trust policy's
say on them, and a reason for every promptfoo id we do not run (no network here)."""

from __future__ import annotations

from typing import Any

import pytest

from promptyard.core.types import ProviderSpec
from promptyard.errors import ConfigError, ProviderAuthError
from promptyard.providers import check_credentials, create_provider
from promptyard.settings import load_settings
from promptyard.trust import TrustPolicy, egress
from promptyard.trust.policy import VENDOR_KEY_HOSTS

LOCAL = TrustPolicy.local()
SERVER = TrustPolicy.server(load_settings({}), loopback=True)

# prefix -> (id, base URL, key variable(s) in order)
_GEMINI = "https://generativelanguage.googleapis.com/v1beta/openai"
_FW = "accounts/fireworks/models/llama-v3p1-8b-instruct"
HOSTED = {
    "openrouter": ("openrouter:openai/gpt-4o-mini", "https://openrouter.ai/api/v1",
                   ["OPENROUTER_API_KEY"]),
    "groq": ("groq:llama-3.3-70b-versatile", "https://api.groq.com/openai/v1", ["GROQ_API_KEY"]),
    "deepseek": ("deepseek:deepseek-chat", "https://api.deepseek.com/v1", ["DEEPSEEK_API_KEY"]),
    "together": ("together:meta-llama/Llama-3.3-70B-Instruct-Turbo",
                 "https://api.together.xyz/v1", ["TOGETHER_API_KEY"]),
    "mistral": ("mistral:mistral-small-latest", "https://api.mistral.ai/v1", ["MISTRAL_API_KEY"]),
    "perplexity": ("perplexity:sonar", "https://api.perplexity.ai", ["PERPLEXITY_API_KEY"]),
    "fireworks": (f"fireworks:{_FW}", "https://api.fireworks.ai/inference/v1",
                  ["FIREWORKS_API_KEY"]),
    "xai": ("xai:grok-3-mini", "https://api.x.ai/v1", ["XAI_API_KEY"]),
    "cerebras": ("cerebras:llama3.1-8b", "https://api.cerebras.ai/v1", ["CEREBRAS_API_KEY"]),
    "google": ("google:gemini-2.5-flash", _GEMINI, ["GEMINI_API_KEY", "GOOGLE_API_KEY"]),
    "gemini": ("gemini:gemini-2.5-flash", _GEMINI, ["GEMINI_API_KEY", "GOOGLE_API_KEY"]),
}  # fmt: skip

ALL_KEYS = sorted({k for _, _, keys in HOSTED.values() for k in keys} | {
    "AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "OPENAI_API_KEY", "AZURE_API_HOST",
    "AZURE_OPENAI_API_HOST", "AZURE_API_BASE_URL", "AZURE_OPENAI_API_BASE_URL",
    "AZURE_OPENAI_BASE_URL", "MISTRAL_API_HOST", "MISTRAL_API_BASE_URL", "OPENAI_ORG_ID",
    "OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID",
})  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL_KEYS:
        monkeypatch.delenv(name, raising=False)


def make(id: str, trust: TrustPolicy = LOCAL, **config: Any) -> Any:
    return create_provider(ProviderSpec(id=id, config=config, where="t.yaml"), trust=trust)


@pytest.mark.parametrize("prefix", sorted(HOSTED))
def test_hosted_flavor_has_promptfoo_host_and_key(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, url, keys = HOSTED[prefix]
    with pytest.raises(ProviderAuthError, match=keys[0]):
        check_credentials(ProviderSpec(id=pid))
    for env in reversed(keys):  # the last variable alone works; the first wins when both set
        monkeypatch.setenv(env, f"key-{env}")
        p = make(pid)
        assert p.base_url == url
        assert p.model == pid.split(":", 1)[1]
        assert p.api_key() == f"key-{env}"
        assert p._build_headers()["Authorization"] == f"Bearer key-{env}"
    check_credentials(ProviderSpec(id=pid))


@pytest.mark.parametrize("prefix", sorted(HOSTED))
def test_server_policy_sends_each_vendor_key_only_to_its_vendor(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, url, keys = HOSTED[prefix]
    for env in keys:
        assert env in SERVER.key_envs  # type: ignore[operator]
        assert egress.key_may_go(SERVER, env, egress.url_host(url))
        assert not egress.key_may_go(SERVER, env, "api.openai.com")
        monkeypatch.setenv(env, "secret")
    assert make(pid, SERVER).api_key() == "secret"
    with pytest.raises(ConfigError, match=f"{keys[0]} goes only to"):
        make(pid, SERVER, apiBaseUrl="https://evil.example/v1")


def test_azure_deployment_url_version_and_api_key_header(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="apiHost"):
        make("azure:chat:my-gpt4o", apiKey="k")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-key")
    p = make("azure:chat:my-gpt4o", apiHost="res.openai.azure.com")
    assert p.model == "my-gpt4o"
    assert p._url == (
        "https://res.openai.azure.com/openai/deployments/my-gpt4o/chat/completions"
        "?api-version=2024-10-21"
    )
    headers = p._build_headers()
    assert headers["api-key"] == "az-key" and "Authorization" not in headers
    monkeypatch.setenv("AZURE_API_HOST", "other.openai.azure.com")
    p = make("azure:my-gpt4o", apiVersion="2025-01-01-preview")
    assert p._url.startswith("https://other.openai.azure.com/openai/deployments/my-gpt4o/")
    assert p._url.endswith("?api-version=2025-01-01-preview")
    assert p._endpoint("embeddings", "emb").split("?")[0].endswith("/deployments/emb/embeddings")
    with pytest.raises(ConfigError, match="`azureClientSecret`: Entra ID"):
        make("azure:my-gpt4o", azureClientSecret="s", azureClientId="c")
    # The server sends an Azure key to Azure's hosts only.
    assert make("azure:my-gpt4o", SERVER).api_key() == "az-key"
    with pytest.raises(ConfigError, match="AZURE_OPENAI_API_KEY goes only to"):
        make("azure:my-gpt4o", SERVER, apiHost="attacker.example")


def test_mistral_host_variable() -> None:
    import os

    os.environ["MISTRAL_API_HOST"] = "eu.mistral.example"
    try:
        assert make("mistral:m", apiKey="k").base_url == "https://eu.mistral.example/v1"
    finally:
        del os.environ["MISTRAL_API_HOST"]


def test_default_server_key_list_is_the_vendor_table() -> None:
    assert frozenset(VENDOR_KEY_HOSTS) == SERVER.key_envs
    for env in ("GROQ_API_KEY", "AZURE_API_KEY", "GEMINI_API_KEY", "XAI_API_KEY"):
        assert env in VENDOR_KEY_HOSTS
    assert egress.vendor_host("res.openai.azure.com")


@pytest.mark.parametrize(
    ("pid", "hint"),
    [
        ("bedrock:anthropic.claude-3-haiku", "SigV4"),
        ("vertex:gemini-2.5-pro", "google:MODEL"),
        ("huggingface:text-generation:gpt2", "router.huggingface.co"),
        ("replicate:meta/llama", "python:"),
        ("cohere:command-r", "api.cohere.ai/compatibility/v1"),
        ("cloudflare-ai:chat:@cf/meta/llama", "openai-compatible:"),
        ("https://example.com/generate", "python:"),
        ("openai:assistant:asst_1", "Assistants API"),
        ("openai:realtime:gpt-4o-realtime", "Realtime"),
        ("azure:assistant:asst_1", "Assistants"),
    ],
)
def test_unsupported_promptfoo_ids_say_what_to_use_instead(pid: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        make(pid)
    assert hint in str(info.value) and "unknown provider" not in str(info.value)
    with pytest.raises(ConfigError, match="known prefixes"):
        make("nosuchvendor:model")


def test_config_keys_are_passed_through_or_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="`temprature`: did you mean `temperature`"):
        make("openai:gpt-4o-mini", apiKey="k", temprature=0.2)
    with pytest.raises(ConfigError, match="`functionToolCallbacks`"):
        make("openai:gpt-4o-mini", apiKey="k", functionToolCallbacks={})
    with pytest.raises(ConfigError, match="openai:responses:MODEL"):
        make("openai:gpt-4o-mini", apiKey="k", max_output_tokens=5)
    p = make(
        "openai:gpt-4o-mini",
        apiKey="k",
        passthrough={"custom": 1},
        top_k=3,
        verbosity="low",
        safe_prompt=True,  # a vendor's own field (Mistral): sent as it is, not dropped
    )
    assert (p._body["custom"], p._body["top_k"], p._body["verbosity"]) == (1, 3, "low")
    assert p._body["safe_prompt"] is True
    assert "api_key" not in p._body and "timeout" not in p._body


def test_org_and_project_from_the_environment_go_only_to_openai(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-1")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-1")
    h = make("openai:gpt-4o-mini", apiKey="k")._build_headers()
    assert (h["OpenAI-Organization"], h["OpenAI-Project"]) == ("org-1", "proj-1")
    h = make("openai:gpt-4o-mini", apiKey="k", organization="org-2", project="p2")._build_headers()
    assert (h["OpenAI-Organization"], h["OpenAI-Project"]) == ("org-2", "p2")
    assert "OpenAI-Organization" not in make("groq:m", apiKey="k")._build_headers()
    # The server does not tell another host the operator's organization.
    strict = make("openai:m", SERVER, apiKey="k", apiBaseUrl="https://gw.example/v1")
    assert "OpenAI-Organization" not in strict._build_headers()
