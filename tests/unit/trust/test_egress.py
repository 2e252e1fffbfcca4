"""Keys and hosts (trust/egress.py) and redaction (core/secrets.py), without a server: which
variable may supply a key and where it may go, which addresses a provider may reach (at
creation and at connect, DNS rebinding included), and what is hidden from stored configs,
messages and upstream error bodies."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import pytest

from promptyard.core.secrets import (
    REDACTED,
    find_secret,
    is_secret_key,
    redact,
    safe_url,
    scrub_text,
)
from promptyard.core.types import ProviderSpec
from promptyard.errors import ConfigError, ProviderError, ProviderRateLimitError
from promptyard.providers import create_provider
from promptyard.providers.http_errors import error_for_status
from promptyard.settings import load_settings
from promptyard.trust import TrustPolicy, egress

LOCAL = TrustPolicy.local()
NOTHING = TrustPolicy(key_envs=frozenset({"OPENAI_API_KEY"}), egress_allow=())
LOOPBACK = TrustPolicy(egress_allow=("loopback",))
PRIVATE = TrustPolicy(egress_allow=("private",))


def server(**env: str) -> TrustPolicy:
    return TrustPolicy.server(load_settings({f"PROMPTYARD_{k}": v for k, v in env.items()}))


# -- addresses -------------------------------------------------------------------------------

REFUSED_BY_DEFAULT = [
    "127.0.0.1", "127.8.9.1", "::1", "0.0.0.0", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "100.64.0.1", "fc00::1", "fd12::1", "169.254.169.254", "169.254.1.1", "fe80::1",
    "fd00:ec2::254", "100.100.100.200", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "64:ff9b::7f00:1", "224.0.0.1", "240.0.0.1", "255.255.255.255",
]  # fmt: skip


@pytest.mark.parametrize("ip", REFUSED_BY_DEFAULT)
def test_only_public_addresses_unless_listed(ip: str) -> None:
    assert not egress.address_allowed(NOTHING, ip)
    assert egress.address_allowed(LOCAL, ip)  # the CLI and library: anything


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.216.34"])
def test_public_addresses_are_allowed(ip: str) -> None:
    assert egress.address_allowed(NOTHING, ip)


def test_loopback_private_and_listed_entries() -> None:
    assert all(egress.address_allowed(LOOPBACK, ip) for ip in ("127.0.0.1", "::1", "127.5.5.5"))
    assert not egress.address_allowed(LOOPBACK, "10.0.0.1")
    assert all(egress.address_allowed(PRIVATE, ip) for ip in ("10.0.0.1", "192.168.3.4", "fd1::1"))
    # "private" does not open link-local or the cloud metadata services
    for ip in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254", "127.0.0.1"):
        assert not egress.address_allowed(PRIVATE, ip), ip
    listed = TrustPolicy(egress_allow=("169.254.169.254", "10.0.0.0/8", "fd00::/8"))
    assert egress.address_allowed(listed, "169.254.169.254")
    assert egress.address_allowed(listed, "10.200.0.1")
    assert egress.address_allowed(listed, "::ffff:10.1.1.1")  # an IPv4-mapped form too
    assert not egress.address_allowed(listed, "192.168.0.1")
    assert egress.address_kind(egress.ipaddress.ip_address("169.254.169.254")) == "metadata"


def test_a_bad_allow_list_entry_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="EGRESS_ALLOW"):
        egress.address_allowed(TrustPolicy(egress_allow=("10.0.0.0/99",)), "10.0.0.1")


def test_the_server_default_allows_loopback_only_on_loopback() -> None:
    assert server().egress_allow == ("loopback",)
    assert TrustPolicy.server(load_settings({}), loopback=False).egress_allow == ()
    assert server(EGRESS_ALLOW="private, gpu.lan").egress_allow == ("gpu.lan", "private")


# -- URLs at creation ------------------------------------------------------------------------


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    asked: list[str] = []

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        if host not in answers:
            raise socket.gaierror("no such name")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 0)) for ip in answers[host]]

    monkeypatch.setattr(egress.socket, "getaddrinfo", getaddrinfo)
    return asked


def test_check_url_resolves_a_name_and_checks_every_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {"evil.example": ["93.184.216.34", "127.0.0.1"],
                           "meta.example": ["169.254.169.254"],
                           "fine.example": ["93.184.216.34"]})  # fmt: skip
    for url in ("http://evil.example/v1", "https://meta.example", "http://127.0.0.1:8/v1",
                "http://[::1]/v1", "http://[::ffff:7f00:1]/v1"):  # fmt: skip
        with pytest.raises(ConfigError, match="PROMPTYARD_EGRESS_ALLOW") as info:
            egress.check_url(NOTHING, url, where="cfg.yaml", field="config.base_url")
        assert info.value.field == "config.base_url"
    assert egress.check_url(NOTHING, "https://fine.example/v1") == "fine.example"
    assert egress.check_url(NOTHING, "https://unknown.example/v1") == "unknown.example"  # later
    assert egress.check_url(LOOPBACK, "http://127.0.0.1:11434/v1") == "127.0.0.1"
    with pytest.raises(ConfigError, match="http:// or https://"):
        egress.check_url(NOTHING, "file:///etc/passwd")


def test_a_listed_name_is_trusted_without_a_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_dns(monkeypatch, {"ollama.lan": ["10.0.0.9"], "a.gpu.lan": ["10.0.0.8"]})
    policy = TrustPolicy(egress_allow=("ollama.lan", "*.gpu.lan"))
    assert egress.check_url(policy, "http://OLLAMA.lan.:11434/v1") == "ollama.lan"
    assert egress.check_url(policy, "http://a.gpu.lan/v1") == "a.gpu.lan"
    egress.check_addresses(policy, "a.gpu.lan", ["10.0.0.8"])
    assert asked == []
    with pytest.raises(egress.EgressRefused):
        egress.check_addresses(policy, "gpu.lan.evil", ["10.0.0.8"])


def test_on_the_event_loop_check_url_does_not_block_on_dns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = fake_dns(monkeypatch, {"evil.example": ["127.0.0.1"]})

    async def build() -> str:
        return egress.check_url(NOTHING, "http://evil.example/v1")

    assert asyncio.run(build()) == "evil.example"  # the connect checks it (below)
    assert asked == []


def test_the_permissive_policy_checks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_dns(monkeypatch, {})
    assert egress.check_url(LOCAL, "ftp://user:pw@127.0.0.1/x") == "127.0.0.1"
    egress.check_addresses(LOCAL, "x", ["169.254.169.254"])
    assert asked == []


# -- at connect: the addresses the connection uses (DNS rebinding) ---------------------------


def test_resolve_checked_refuses_a_name_that_points_inside() -> None:
    with pytest.raises(egress.EgressRefused, match="loopback"):
        asyncio.run(egress.resolve_checked(NOTHING, "localhost", 80))
    assert "127.0.0.1" in asyncio.run(egress.resolve_checked(LOOPBACK, "localhost", 80))


class Rebinding:
    """A resolver whose answer changes between lookups (DNS rebinding)."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, Any]]:
        ip = self.answers.pop(0)
        return [{"hostname": host, "host": ip, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": 0}]  # fmt: skip

    async def close(self) -> None:
        return None


def test_the_aiohttp_resolver_checks_every_answer_it_returns() -> None:
    from promptyard.providers.openai_http import _checked_resolver

    async def go() -> None:
        resolver = _checked_resolver(NOTHING)
        resolver._inner = Rebinding("93.184.216.34", "127.0.0.1")
        assert (await resolver.resolve("rebind.example", 80))[0]["host"] == "93.184.216.34"
        with pytest.raises(egress.EgressRefused, match=re.escape("rebind.example")):
            await resolver.resolve("rebind.example", 80)  # the second answer: refused

    asyncio.run(go())


def test_the_sdk_backend_connects_only_to_checked_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from promptyard.providers.common import _checked_backend_type

    connected: list[str] = []

    class Inner:
        async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> str:
            connected.append(host)
            return "stream"

    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def resolve(policy: TrustPolicy, host: str, port: int) -> list[str]:
        ips = next(answers)
        egress.check_addresses(policy, host, ips)
        return ips

    monkeypatch.setattr(egress, "resolve_checked", resolve)
    backend = _checked_backend_type()(NOTHING, Inner())

    async def go() -> None:
        assert await backend.connect_tcp("rebind.example", 443) == "stream"
        with pytest.raises(egress.EgressRefused):
            await backend.connect_tcp("rebind.example", 443)

    asyncio.run(go())
    assert connected == ["93.184.216.34"]  # pinned to the checked address, never the name


def test_an_sdk_client_is_built_only_under_a_strict_policy() -> None:
    import openai

    from promptyard.providers.common import sdk_http_client

    assert sdk_http_client(LOCAL, openai) is None
    client = sdk_http_client(NOTHING, openai)
    assert client is not None and client.follow_redirects is False
    asyncio.run(client.aclose())


def test_a_refused_connection_is_not_retried() -> None:
    from promptyard.providers.sdk_errors import map_sdk_error

    class FakeSDK:
        APITimeoutError = APIConnectionError = APIStatusError = TimeoutError
        APIResponseValidationError = APIError = TimeoutError

    try:
        try:
            raise egress.EgressRefused("calls to x (127.0.0.1) are not allowed here")
        except OSError as cause:
            raise ConnectionError("connection failed") from cause
    except ConnectionError as exc:
        mapped = map_sdk_error(FakeSDK, exc, "openai:chat:m")
    assert mapped is not None and not mapped.retryable and "not allowed" in str(mapped)


# -- keys ------------------------------------------------------------------------------------


def test_keys_come_only_from_allowed_variables() -> None:
    strict = server()
    with pytest.raises(ConfigError, match="SERVER_SECRET may not supply keys") as info:
        egress.key_env(strict, env="SERVER_SECRET", explicit=True, required=True, host="x")
    assert info.value.field == "config.api_key_env"
    # an optional default that is not allowed is simply not read
    ollama = egress.key_env(strict, env="OLLAMA_API_KEY", explicit=False, required=False,
                            host="127.0.0.1")  # fmt: skip
    assert ollama is None
    assert egress.key_env(LOCAL, env="ANYTHING", explicit=True, required=True, host="x") == (
        "ANYTHING"
    )


def test_a_vendor_key_goes_only_to_its_vendor_unless_listed() -> None:
    strict = server()
    assert egress.key_env(strict, env="OPENAI_API_KEY", explicit=False, required=True,
                          host="api.openai.com") == "OPENAI_API_KEY"  # fmt: skip
    assert egress.key_may_go(strict, "ANTHROPIC_API_KEY", "API.anthropic.com.")
    assert not egress.key_may_go(strict, "ANTHROPIC_API_KEY", "api.openai.com")
    with pytest.raises(
        ConfigError, match=re.escape("PROMPTYARD_KEY_HOSTS=OPENAI_API_KEY=127.0.0.1")
    ):
        egress.key_env(strict, env="OPENAI_API_KEY", explicit=False, required=True,
                       host="127.0.0.1")  # fmt: skip
    assert egress.key_env(strict, env="OPENAI_API_KEY", explicit=False, required=False,
                          host="127.0.0.1") is None  # fmt: skip
    listed = server(
        KEY_HOSTS="gw.corp, OPENAI_API_KEY=*.azure.example", KEY_ENVS="STUB, OPENAI_API_KEY"
    )
    assert egress.key_may_go(listed, "OPENAI_API_KEY", "me.azure.example")
    assert egress.key_may_go(listed, "STUB", "gw.corp")  # "host": every allowed key
    assert not egress.key_may_go(listed, "STUB", "me.azure.example")
    assert not egress.key_may_go(listed, "OPENAI_API_KEY", "azure.example.evil")


def test_the_operator_setting_for_the_test_stub() -> None:
    policy = server(KEY_ENVS="STUB_KEY", KEY_HOSTS="STUB_KEY=127.0.0.1")
    assert egress.key_may_go(policy, "STUB_KEY", "127.0.0.1")
    assert not egress.key_may_go(policy, "STUB_KEY", "localhost")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY may not supply keys"):  # not listed
        egress.key_env(policy, env="OPENAI_API_KEY", explicit=False, required=True,
                       host="api.openai.com")  # fmt: skip


def provider(id_: str, trust: TrustPolicy, **config: Any) -> Any:
    return create_provider(ProviderSpec(id=id_, config=config), trust=trust)


def test_providers_apply_the_policy_when_created(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator")
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-ollama")
    monkeypatch.setenv("SERVER_SECRET", "canary")
    strict = server()
    stub = "http://127.0.0.1:9/v1"
    with pytest.raises(ConfigError, match=re.escape("api.openai.com")):
        provider("openai:chat:m", strict, apiBaseUrl=stub)
    with pytest.raises(ConfigError, match=re.escape("api.openai.com")):
        provider("openai:chat:m", strict, apiBaseUrl=stub, transport="sdk")
    with pytest.raises(ConfigError, match=re.escape("api.anthropic.com")):
        provider("anthropic:messages:m", strict, apiBaseUrl="http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="SERVER_SECRET"):
        provider("openai:chat:m", strict, apiBaseUrl=stub, apiKeyEnvar="SERVER_SECRET")
    # the author's own key goes where the config says; an optional default is not read
    inline = provider("openai:chat:m", strict, apiBaseUrl=stub, apiKey="sk-own")
    assert inline._build_headers()["Authorization"] == "Bearer sk-own"
    assert "Authorization" not in provider("ollama:m", strict)._build_headers()
    assert provider("openai:chat:m", strict)._build_headers()["Authorization"] == (
        "Bearer sk-operator"
    )
    # the CLI and library: as before
    assert provider("ollama:m", LOCAL)._build_headers()["Authorization"] == "Bearer sk-ollama"
    local = provider("openai:chat:m", LOCAL, apiBaseUrl=stub, apiKeyEnvar="SERVER_SECRET")
    assert local._build_headers()["Authorization"] == "Bearer canary"


def test_embedders_apply_the_policy_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from promptyard.providers.embeddings import create_embedder

    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator")
    ref = {"id": "openai:embedding:e", "config": {"apiBaseUrl": "http://127.0.0.1:9/v1"}}
    with pytest.raises(ConfigError, match="PROMPTYARD_KEY_HOSTS"):
        create_embedder(ref, trust=server())
    with pytest.raises(ConfigError, match="EGRESS_ALLOW"):
        create_embedder({**ref, "config": {"apiBaseUrl": "http://169.254.169.254/v1",
                                           "apiKey": "k"}}, trust=server())  # fmt: skip
    assert create_embedder(ref, trust=LOCAL) is not None


def test_a_plugin_provider_is_checked_on_what_its_config_names() -> None:
    from promptyard.providers.echo import EchoProvider
    from promptyard.providers.registry import register_provider, unregister_provider

    register_provider("plug", lambda spec, base_dir: EchoProvider(spec))
    try:
        with pytest.raises(ConfigError, match="SERVER_SECRET"):
            provider("plug:x", server(), apiKeyEnvar="SERVER_SECRET")
        with pytest.raises(ConfigError, match="EGRESS_ALLOW"):
            provider("plug:x", server(), apiBaseUrl="http://10.0.0.1/v1")
        assert provider("plug:x", server(), whatever={"transport": "grpc"}) is not None
    finally:
        unregister_provider("plug")


# -- upstream error bodies -------------------------------------------------------------------


def test_upstream_error_bodies_are_summarised() -> None:
    body = b'{"error": {"message": "password=hunter2 at 10.0.0.5", "code": "db_down"}}'
    err = error_for_status(500, body, None, provider="p", summarize=True)
    assert "hunter2" not in str(err) and "10.0.0.5" not in str(err)
    assert "code db_down" in str(err) and "HTTP 500" in str(err) and err.retryable
    page = error_for_status(403, b"<html>internal wiki secret</html>", None, provider="p",
                            summarize=True)  # fmt: skip
    assert "secret" not in str(page) and "withheld" in str(page)
    weird = b'{"error": {"code": "has spaces and a secret"}}'
    assert "secret" not in str(error_for_status(400, weird, None, provider="p", summarize=True))
    limited = error_for_status(429, b"{}", {"retry-after": "3"}, provider="p", summarize=True)
    assert isinstance(limited, ProviderRateLimitError) and limited.retry_after == 3.0
    # the CLI shows the vendor's message, as before
    assert "hunter2" in str(error_for_status(500, body, None, provider="p"))
    assert isinstance(err, ProviderError)


# -- redaction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["Cookie", "cookies", "Set-Cookie", "credentials", "credential", "auth", "basicAuth",
            "Ocp-Apim-Subscription-Key", "subscription_key", "x-api-key", "proxyAuthorization"],
)  # fmt: skip
def test_new_secret_key_words(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["auth_type", "max_tokens", "cache_key", "api_key_env", "author"])
def test_still_not_secret(key: str) -> None:
    assert not is_secret_key(key)


def test_header_values_are_hidden_unless_allow_listed() -> None:
    cfg = {"headers": {"Content-Type": "application/json", "anthropic-version": "2023-06-01",
                       "X-Custom": "v", "Ocp-Apim-Subscription-Key": "s", "Cookie": "c",
                       "X-Empty": ""},
           "extraHeaders": {"X-Other": "v"}}  # fmt: skip
    out = redact(cfg)
    assert out["headers"] == {"Content-Type": "application/json",
                              "anthropic-version": "2023-06-01", "X-Custom": REDACTED,
                              "Ocp-Apim-Subscription-Key": REDACTED, "Cookie": REDACTED,
                              "X-Empty": ""}  # fmt: skip
    assert out["extraHeaders"] == {"X-Other": REDACTED}
    assert cfg["headers"]["Cookie"] == "c"  # the input is not changed
    safe = {"headers": {"Accept": "text/plain"}}
    assert redact(safe) is safe


def test_urls_lose_userinfo_and_query() -> None:
    cfg = {"providers": [{"id": "openai:chat:m", "config": {
        "apiBaseUrl": "https://user:pw@gw.example/v1?api-version=1&api_key=k",
        "url": "http://h/x?sig=abc#frag"}}],
        "prompts": ["fetch https://me:pw@host/p?q=1&api_key=k2&sig=s and http://plain/x?q=2"],
        "tests": [{"vars": {"q": "no url here"}}]}  # fmt: skip
    out = redact(cfg)
    assert out["providers"][0]["config"] == {"apiBaseUrl": "https://gw.example/v1",
                                             "url": "http://h/x"}  # fmt: skip
    assert out["prompts"] == [
        f"fetch https://host/p?q=1&api_key={REDACTED}&sig={REDACTED} and http://plain/x?q=2"
    ]
    assert out["tests"] is cfg["tests"]
    assert safe_url("http://u:p@h:8/v1?k=1") == "http://h:8/v1"
    assert safe_url("http://h/v1") == "http://h/v1"


def test_scrub_text_shows_urls_without_credentials() -> None:
    text = "cannot reach http://u:p@ss@127.0.0.1:1/v1/chat/completions?api_key=k now"
    assert scrub_text(text) == "cannot reach http://127.0.0.1:1/v1/chat/completions now"
    assert scrub_text("no url") == "no url"


def test_find_secret_names_what_a_profile_may_not_hold() -> None:
    assert find_secret({"temperature": 0, "headers": {"Accept": "x"}}) is None
    assert find_secret({"headers": {"X-Custom": "v"}}) == "headers.X-Custom"
    assert find_secret({"apiBaseUrl": "http://u:p@h/v1"}) == "apiBaseUrl"
    assert find_secret({"apiBaseUrl": "http://h/v1?api-version=1"}) == "apiBaseUrl"
    assert find_secret({"nested": [{"credentials": {"a": 1}}]}) == "nested[0].credentials"
    assert find_secret({"system": "see http://h/?token=t"}) == "system"


def test_profiles_refuse_hidden_values(tmp_path: Any) -> None:
    from promptyard.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        for cfg in ({"headers": {"Cookie": "c"}}, {"credentials": {"u": "x"}},
                    {"apiBaseUrl": "http://u:p@h/v1"}, {"headers": {"X-Custom": "v"}}):  # fmt: skip
            with pytest.raises(ValueError, match="env var name"):
                store.registry.create_profile("p", "openai:chat:m", config=cfg)
        ok = {"api_key_env": "OPENAI_API_KEY", "headers": {"anthropic-version": "2023-06-01"}}
        assert store.registry.create_profile("p", "openai:chat:m", config=ok).config == ok
    finally:
        store.close()


def test_a_refused_variable_is_refused_whether_it_is_set_or_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from promptyard.errors import ProviderAuthError
    from promptyard.providers import check_credentials
    from promptyard.providers.embeddings import check_embedder_credentials

    monkeypatch.delenv("UNSET_SECRET", raising=False)
    spec = ProviderSpec(id="openai:chat:m", config={"apiKeyEnvar": "UNSET_SECRET"})
    with pytest.raises(ProviderAuthError, match="UNSET_SECRET"):
        check_credentials(spec)  # the CLI: says which variable to set
    with pytest.raises(ConfigError, match="may not supply keys"):
        check_credentials(spec, trust=server())
    ref = {"id": "openai:embedding:e", "config": {"apiKeyEnvar": "UNSET_SECRET"}}
    with pytest.raises(ConfigError, match="may not supply keys"):
        check_embedder_credentials(ref, trust=server())
