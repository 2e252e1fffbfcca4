"""Providers over real HTTP against the local stub server (bench/stub_server.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bench.stub_server import StubServer
from genai_prices import Usage, calc_price

from promptyard.core.types import CompletionRequest, ProviderSpec
from promptyard.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
)
from promptyard.providers import CallPolicy, check_credentials, create_provider
from promptyard.providers.base import Provider
from promptyard.trust import TrustPolicy

LOCAL_TRUST = TrustPolicy()  # the local user's policy


TRANSPORTS = ["aiohttp", "sdk"]


def req(text: str = "hello there world", **kw: Any) -> CompletionRequest:
    return CompletionRequest(prompt=text, messages=[{"role": "user", "content": text}], **kw)


class Providers:
    """Creates providers and closes them at the end of the test."""

    def __init__(self) -> None:
        self.made: list[Provider] = []

    def __call__(self, id: str, **config: Any) -> Any:
        p = create_provider(
            ProviderSpec(id=id, config=config, where="test.yaml: providers[0]"), trust=LOCAL_TRUST
        )
        self.made.append(p)
        return p


@pytest.fixture
async def make() -> AsyncIterator[Providers]:
    providers = Providers()
    yield providers
    for p in providers.made:
        await p.aclose()


def openai(make: Providers, stub: StubServer, transport: str = "aiohttp", **config: Any) -> Any:
    return make(
        "openai:gpt-4o-mini",
        apiBaseUrl=stub.base_url,
        apiKey="sk-test",
        transport=transport,
        **config,
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_openai_success_has_usage_logprobs_and_cost(
    stub_server: StubServer, make: Providers, transport: str
) -> None:
    p = openai(make, stub_server, transport, logprobs=True, temperature=0, seed=7)
    c = await p.complete(req("hello there world"))

    assert c.output == "hello there world"
    assert (c.usage.prompt, c.usage.completion, c.usage.total) == (4, 3, 7)
    assert c.finish_reason == "stop"
    assert c.logprobs is not None and len(c.logprobs) == 3
    assert all(lp <= 0 for lp in c.logprobs)
    expected = calc_price(
        Usage(input_tokens=4, output_tokens=3), "gpt-4o-mini", provider_id="openai"
    ).total_price
    assert c.cost == pytest.approx(float(expected))
    assert c.latency_ms > 0
    sent = stub_server.requests[-1]
    assert sent["authorization"] == "Bearer sk-test"
    assert sent["body"]["temperature"] == 0
    assert sent["body"]["seed"] == 7
    assert sent["body"]["logprobs"] is True
    assert sent["body"]["model"] == "gpt-4o-mini"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_streaming_folds_chunks_and_usage(
    stub_server: StubServer, make: Providers, transport: str
) -> None:
    p = openai(make, stub_server, transport, stream=True, logprobs=True)
    c = await p.complete(req("one two three four"))
    assert c.output == "one two three four"
    assert c.usage.completion == 4
    assert c.finish_reason == "stop"
    assert c.logprobs is not None and len(c.logprobs) == 4


async def test_extra_body_headers_and_tools(stub_server: StubServer, make: Providers) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    p = openai(
        make,
        stub_server,
        tools=tools,
        tool_choice="required",
        passthrough={"custom_flag": 1},
        headers={"X-Trace": "abc"},
    )
    c = await p.complete(req("find it"))
    assert isinstance(c.output, list)
    assert c.output[0]["function"]["name"] == "lookup"
    assert c.finish_reason == "tool_calls"
    sent = stub_server.requests[-1]
    assert sent["body"]["custom_flag"] == 1
    assert sent["headers"]["X-Trace"] == "abc"


async def test_json_schema_output_is_parsed(stub_server: StubServer, make: Providers) -> None:
    stub_server.add_rule("answer", '{"ok": true}')
    p = openai(make, stub_server, response_format={"type": "json_schema", "json_schema": {}})
    c = await p.complete(req("answer please"))
    assert c.output == {"ok": True}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_401_is_not_retried_and_says_why(
    stub_server: StubServer, make: Providers, transport: str
) -> None:
    stub_server.script({"status": 401, "body": {"error": {"message": "Incorrect API key"}}})
    policy = CallPolicy(openai(make, stub_server, transport), max_retries=3)
    with pytest.raises(ProviderAuthError, match="Incorrect API key") as info:
        await policy.complete(req())
    assert info.value.status == 401
    assert stub_server.request_count == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_429_retry_after_is_honoured(
    stub_server: StubServer, make: Providers, transport: str
) -> None:
    stub_server.fail_first(1, 429, retry_after=0.4)
    policy = CallPolicy(openai(make, stub_server, transport), max_retries=2)
    start = time.monotonic()
    c = await policy.complete(req("after the wait"))
    elapsed = time.monotonic() - start
    assert c.output == "after the wait"
    assert stub_server.request_count == 2
    assert elapsed >= 0.4


async def test_429_carries_retry_after_ms(stub_server: StubServer, make: Providers) -> None:
    stub_server.script({"status": 429, "headers": {"retry-after-ms": "1500"}})
    with pytest.raises(ProviderRateLimitError) as info:
        await openai(make, stub_server).complete(req())
    assert info.value.retry_after == pytest.approx(1.5)


async def test_500_then_success(stub_server: StubServer, make: Providers) -> None:
    stub_server.fail_first(1, 500)
    policy = CallPolicy(openai(make, stub_server), max_retries=2)
    c = await policy.complete(req("fine now"))
    assert c.output == "fine now"
    assert stub_server.request_count == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_persistent_500_gives_up_with_last_error(
    stub_server: StubServer, make: Providers, transport: str
) -> None:
    stub_server.fail_first(10, 500, retry_after=0)
    policy = CallPolicy(openai(make, stub_server, transport), max_retries=2)
    with pytest.raises(ProviderServerError, match="scripted error 500") as info:
        await policy.complete(req())
    assert info.value.status == 500
    assert stub_server.request_count == 3  # the call and two retries


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_timeout(stub_server: StubServer, make: Providers, transport: str) -> None:
    stub_server.script({"delay_ms": 2000})
    p = openai(make, stub_server, transport, timeout=0.2)
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError):
        await CallPolicy(p, max_retries=0).complete(req())
    assert time.monotonic() - start < 1.5


async def test_policy_timeout_without_provider_timeout(
    stub_server: StubServer, make: Providers
) -> None:
    stub_server.script({"delay_ms": 2000})
    policy = CallPolicy(openai(make, stub_server), max_retries=0, timeout_s=0.2)
    with pytest.raises(ProviderTimeoutError, match=r"0\.2 s"):
        await policy.complete(req())


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_malformed_body_names_an_excerpt(
    stub_server: StubServer, make: Providers, transport: str
) -> None:
    stub_server.script({"malformed": True})
    policy = CallPolicy(openai(make, stub_server, transport), max_retries=3)
    with pytest.raises(ProviderResponseError, match=r"not JSON.*upstream said"):
        await policy.complete(req())
    assert stub_server.request_count == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connection_drop_is_retryable(
    stub_server: StubServer, make: Providers, transport: str
) -> None:
    p = openai(make, stub_server, transport)
    stub_server.script({"drop": True})
    with pytest.raises(ProviderServerError):
        await p.complete(req())
    stub_server.script({"drop": True})
    c = await CallPolicy(p, max_retries=1).complete(req("second try"))
    assert c.output == "second try"
    assert stub_server.request_count == 3


async def test_other_4xx_carries_vendor_message(stub_server: StubServer, make: Providers) -> None:
    stub_server.script({"status": 400, "body": {"error": {"message": "max_tokens is too big"}}})
    with pytest.raises(ProviderResponseError, match="max_tokens is too big"):
        await CallPolicy(openai(make, stub_server), max_retries=3).complete(req())
    assert stub_server.request_count == 1


async def test_unreachable_host_is_a_server_error(make: Providers) -> None:
    p = make("openai-compatible:m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ProviderServerError, match="cannot reach"):
        await p.complete(req())


async def test_missing_key_names_the_variable(
    stub_server: StubServer, make: Providers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    spec = ProviderSpec(id="openai:gpt-4o-mini", config={"apiBaseUrl": stub_server.base_url})
    with pytest.raises(ProviderAuthError, match="OPENAI_API_KEY"):
        check_credentials(spec)
    p = make(spec.id, apiBaseUrl=stub_server.base_url)
    with pytest.raises(ProviderAuthError, match="OPENAI_API_KEY"):
        await CallPolicy(p, max_retries=3).complete(req())
    assert stub_server.request_count == 0

    custom = ProviderSpec(id="openai:gpt-4o-mini", config={"apiKeyEnvar": "TEAM_OPENAI_KEY"})
    monkeypatch.delenv("TEAM_OPENAI_KEY", raising=False)
    with pytest.raises(ProviderAuthError, match="TEAM_OPENAI_KEY"):
        check_credentials(custom)
    monkeypatch.setenv("TEAM_OPENAI_KEY", "sk-team")
    check_credentials(custom)


async def test_key_from_environment(
    stub_server: StubServer, make: Providers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    p = make("openai:chat:gpt-4o-mini", apiBaseUrl=stub_server.base_url)
    await p.complete(req())
    assert stub_server.requests[-1]["authorization"] == "Bearer sk-from-env"


async def test_local_flavors_need_no_key_and_are_free(
    stub_server: StubServer, make: Providers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    for pid in ("ollama:chat:llama3.2", "vllm:some/model", "openai-compatible:local-model"):
        check_credentials(ProviderSpec(id=pid, config={"base_url": stub_server.base_url}))
        c = await make(pid, base_url=stub_server.base_url).complete(req("local answer"))
        assert c.output == "local answer"
        assert c.cost == 0.0
    assert stub_server.requests[0]["body"]["model"] == "llama3.2"
    assert stub_server.requests[0]["authorization"] is None


async def test_ollama_base_url_from_env(
    stub_server: StubServer, make: Providers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", stub_server.root_url)  # promptfoo's form, no /v1
    c = await make("ollama:llama3.2").complete(req("via env"))
    assert c.output == "via env"


async def test_openai_compatible_needs_base_url() -> None:
    with pytest.raises(ConfigError, match=r"test.yaml: providers\[3\].*base_url"):
        create_provider(
            ProviderSpec(id="openai-compatible:m", where="test.yaml: providers[3]"),
            trust=LOCAL_TRUST,
        )


async def test_embeddings(stub_server: StubServer, make: Providers) -> None:
    p = make("openai:embedding:text-embedding-3-small", apiBaseUrl=stub_server.base_url, apiKey="k")
    a, b, c = await p.embed(["same", "same", "other"])
    assert a == b and a != c and len(a) == 8


async def test_concurrency_limit_is_respected(stub_server: StubServer, make: Providers) -> None:
    stub_server.set_latency(50)
    policy = CallPolicy(openai(make, stub_server), max_concurrency=3)
    results = await asyncio.gather(*(policy.complete(req(f"n{i}")) for i in range(12)))
    assert [r.output for r in results] == [f"n{i}" for i in range(12)]
    assert stub_server.stats()["max_in_flight"] == 3


async def test_stub_sustains_64_concurrent(stub_server: StubServer, make: Providers) -> None:
    stub_server.set_latency(100)
    policy = CallPolicy(openai(make, stub_server), max_concurrency=64)
    start = time.monotonic()
    await asyncio.gather(*(policy.complete(req(f"m{i}")) for i in range(128)))
    assert time.monotonic() - start < 1.5  # two waves of 100 ms, not 128 serial calls
    assert stub_server.stats()["max_in_flight"] == 64


async def test_control_endpoints_over_http(stub_server: StubServer) -> None:
    import aiohttp

    root = stub_server.root_url
    async with aiohttp.ClientSession() as s:
        await s.post(root + "/_control/fail_first", json={"count": 1, "status": 503})
        async with s.post(
            stub_server.base_url + "/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        ) as r:
            assert r.status == 503
        await s.post(
            root + "/_control/script",
            json={"responses": [{"status": 418, "body": {"error": "teapot"}}]},
        )
        async with s.post(
            stub_server.base_url + "/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        ) as r:
            assert r.status == 418
        async with s.get(root + "/_control/stats") as r:
            stats = await r.json()
        assert stats["requests"] == 2
        async with s.get(stub_server.base_url + "/models") as r:
            assert "gpt-4o-mini" in {m["id"] for m in (await r.json())["data"]}


# -- Anthropic ------------------------------------------------------------------------------


def anthropic(make: Providers, stub: StubServer, **config: Any) -> Any:
    return make(
        "anthropic:messages:claude-haiku-4-5",
        base_url=stub.base_url,
        api_key="sk-ant-test",
        **config,
    )


async def test_anthropic_messages_with_system(stub_server: StubServer, make: Providers) -> None:
    p = anthropic(make, stub_server, temperature=0.5, max_tokens=50)
    request = CompletionRequest(
        prompt="be terse\nhi there",
        messages=[
            {"role": "system", "content": "be terse"},
            {"role": "user", "content": "hi there"},
        ],
    )
    c = await p.complete(request)
    assert c.output == "hi there"
    assert c.finish_reason == "end_turn"
    assert (c.usage.prompt, c.usage.completion) == (5, 2)
    expected = calc_price(
        Usage(input_tokens=5, output_tokens=2), "claude-haiku-4-5", provider_id="anthropic"
    ).total_price
    assert c.cost == pytest.approx(float(expected))
    sent = stub_server.requests[-1]
    assert sent["path"] == "/v1/messages"
    # SDK releases differ: x-api-key, or a bearer token.
    assert "sk-ant-test" in (sent["api_key"], (sent["authorization"] or "").removeprefix("Bearer "))
    assert sent["body"]["system"] == "be terse"
    assert sent["body"]["messages"] == [{"role": "user", "content": "hi there"}]
    assert sent["body"]["max_tokens"] == 50
    assert sent["body"]["temperature"] == 0.5


async def test_anthropic_errors_map(stub_server: StubServer, make: Providers) -> None:
    p = anthropic(make, stub_server)
    stub_server.script({"status": 401})
    with pytest.raises(ProviderAuthError, match="scripted error 401"):
        await p.complete(req())
    stub_server.script({"status": 429, "headers": {"retry-after": "2"}})
    with pytest.raises(ProviderRateLimitError) as info:
        await p.complete(req())
    assert info.value.retry_after == 2.0
    stub_server.script({"status": 529})
    with pytest.raises(ProviderServerError):
        await p.complete(req())
    stub_server.script({"delay_ms": 2000})
    with pytest.raises(ProviderTimeoutError):
        await anthropic(make, stub_server, timeout=0.2).complete(req())


async def test_anthropic_retry_then_success(stub_server: StubServer, make: Providers) -> None:
    stub_server.fail_first(1, 429, retry_after=0.1)
    c = await CallPolicy(anthropic(make, stub_server), max_retries=1).complete(req("ok then"))
    assert c.output == "ok then"
    assert stub_server.request_count == 2


async def test_anthropic_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ProviderAuthError, match="ANTHROPIC_API_KEY"):
        check_credentials(ProviderSpec(id="anthropic:claude-haiku-4-5"))
