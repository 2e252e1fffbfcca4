"""OpenAI-compatible embedders over real HTTP against the local stub (bench/stub_server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from bench.stub_server import StubServer
from genai_prices import Usage, calc_price
from tests.unit.scorers.helpers import make_ctx

from promptyard.core.types import Assertion, TokenUsage
from promptyard.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
)
from promptyard.providers.base import Embedder
from promptyard.providers.embeddings import check_embedder_credentials, create_embedder
from promptyard.scorers.base import CheckInput
from promptyard.scorers.embedding import similar_verdict
from promptyard.trust import TrustPolicy

LOCAL_TRUST = TrustPolicy()  # the local user's policy


SMALL = "openai:embedding:text-embedding-3-small"


class Embedders:
    """Creates embedders and closes them at the end of the test."""

    def __init__(self) -> None:
        self.made: list[Embedder] = []

    def __call__(self, ref: str | Mapping[str, Any], **config: Any) -> Any:
        e = create_embedder(
            {"id": ref, "config": config} if isinstance(ref, str) else ref, trust=LOCAL_TRUST
        )
        self.made.append(e)
        return e


@pytest.fixture
async def make() -> AsyncIterator[Embedders]:
    embedders = Embedders()
    yield embedders
    for e in embedders.made:
        await e.aclose()


def openai(make: Embedders, stub: StubServer, **config: Any) -> Any:
    return make(SMALL, apiBaseUrl=stub.base_url, apiKey="sk-test", **config)


def price(model: str, tokens: int) -> float:
    return float(calc_price(Usage(input_tokens=tokens), model, provider_id="openai").total_price)


async def test_vectors_usage_and_cost(stub_server: StubServer, make: Embedders) -> None:
    e = openai(make, stub_server)
    assert isinstance(e, Embedder)
    out = await e.embed(["same text", "same text", "other"])
    a, b, c = out.vectors
    assert a == b and a != c and len(a) == 8
    assert sum(x * x for x in a) == pytest.approx(1.0)
    assert (out.usage.prompt, out.usage.completion, out.usage.total) == (5, 0, 5)
    # A vendor model on a local URL (a proxy, here the stub) keeps its vendor price.
    assert out.cost == pytest.approx(price("text-embedding-3-small", 5))
    assert out.cost is not None and out.cost > 0
    (sent,) = stub_server.requests
    assert sent["path"] == "/v1/embeddings"
    assert sent["body"] == {
        "model": "text-embedding-3-small",  # promptfoo's `embedding:` kind is not sent
        "input": ["same text", "same text", "other"],
    }
    assert sent["authorization"] == "Bearer sk-test"


async def test_promptfoo_spellings_and_mapping_refs(
    stub_server: StubServer, make: Embedders
) -> None:
    plural = make(
        {
            "id": "openai:embeddings:text-embedding-3-large",
            "config": {"apiBaseUrl": stub_server.base_url, "apiKey": "k", "dimensions": 4},
        }
    )
    out = await plural.embed(["x"])
    assert len(out.vectors[0]) == 4
    assert out.cost == pytest.approx(price("text-embedding-3-large", 1))
    nested = make(
        {"embedding": {"id": SMALL, "config": {"base_url": stub_server.base_url, "apiKey": "k"}}}
    )
    await nested.embed(["y"])
    bodies = [r["body"] for r in stub_server.requests]
    assert bodies == [
        {"model": "text-embedding-3-large", "input": ["x"], "dimensions": 4},
        {"model": "text-embedding-3-small", "input": ["y"]},
    ]


@pytest.mark.parametrize(
    "ref", ["ollama:embedding:nomic-embed-text", "vllm:embedding:bge-m3", "lmstudio:e5"]
)
async def test_local_servers_are_free_and_keyless(
    stub_server: StubServer, make: Embedders, ref: str
) -> None:
    out = await make(ref, base_url=stub_server.base_url).embed(["a b c"])
    assert out.cost == 0.0 and out.usage.total == 3
    assert stub_server.requests[0]["authorization"] is None
    assert stub_server.requests[0]["body"]["model"] == ref.rpartition(":")[2]


async def test_openai_compatible_honours_key_env(
    stub_server: StubServer, make: Embedders, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = {
        "id": "openai-compatible:embedding:house-embedder",
        "config": {"apiBaseUrl": stub_server.base_url, "apiKeyEnvar": "HOUSE_EMBED_KEY"},
    }
    monkeypatch.delenv("HOUSE_EMBED_KEY", raising=False)
    with pytest.raises(ProviderAuthError, match="HOUSE_EMBED_KEY"):
        check_embedder_credentials(ref)
    monkeypatch.setenv("HOUSE_EMBED_KEY", "house-secret")
    check_embedder_credentials(ref)
    out = await make(ref).embed(["hello"])
    assert out.cost == 0.0  # an unknown model on loopback is a local server
    assert stub_server.requests[0]["authorization"] == "Bearer house-secret"


async def test_missing_openai_key_names_the_variable_before_any_call(
    stub_server: StubServer, make: Embedders, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ProviderAuthError, match="OPENAI_API_KEY"):
        check_embedder_credentials(SMALL)
    e = make(SMALL, apiBaseUrl=stub_server.base_url)
    with pytest.raises(ProviderAuthError, match="set the environment variable OPENAI_API_KEY"):
        await e.embed(["x"])
    assert stub_server.request_count == 0
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    check_embedder_credentials(SMALL)


async def test_rejected_key_names_the_url(stub_server: StubServer, make: Embedders) -> None:
    stub_server.script({"status": 401})
    with pytest.raises(ProviderAuthError) as err:
        await openai(make, stub_server).embed(["x"])
    text = str(err.value)
    assert f"{stub_server.base_url}/embeddings" in text
    assert "scripted error 401" in text and "(HTTP 401)" in text and text.startswith(SMALL)
    assert err.value.status == 401 and err.value.provider == SMALL


async def test_server_error_is_retryable_and_names_the_url(
    stub_server: StubServer, make: Embedders
) -> None:
    stub_server.script({"status": 503, "headers": {"Retry-After": "2"}})
    with pytest.raises(ProviderServerError) as err:
        await openai(make, stub_server).embed(["x"])
    assert err.value.retryable and err.value.retry_after == 2.0
    assert f"{stub_server.base_url}/embeddings" in str(err.value)


@pytest.mark.parametrize(
    ("scripted", "expected"),
    [
        ({"malformed": True}, "not an embeddings response from"),
        ({"body": {"object": "list", "data": [{"embedding": "abc"}]}}, "not an embeddings"),
        ({"body": {"error": "no data"}}, "not an embeddings response from"),
        ({"body": {"data": [{"index": 0, "embedding": [1.0]}]}}, "1 embeddings for 2 inputs"),
    ],
)
async def test_unusable_bodies_name_the_url(
    stub_server: StubServer, make: Embedders, scripted: dict[str, Any], expected: str
) -> None:
    stub_server.script(scripted)
    with pytest.raises(ProviderResponseError, match=expected) as err:
        await openai(make, stub_server).embed(["x", "y"])
    assert f"{stub_server.base_url}/embeddings" in str(err.value)
    assert not err.value.retryable


async def test_timeout_names_the_url(stub_server: StubServer, make: Embedders) -> None:
    stub_server.script({"delay_ms": 2000})
    with pytest.raises(ProviderTimeoutError, match=r"no answer within 0.2 s from http://") as err:
        await openai(make, stub_server, timeout=0.2).embed(["x"])
    assert f"{stub_server.base_url}/embeddings" in str(err.value)


async def test_cost_is_none_when_unknown_never_zero(
    stub_server: StubServer, make: Embedders
) -> None:
    # A priced model whose server reports no usage: the spend is unknown.
    stub_server.script({"body": {"data": [{"index": 0, "embedding": [0.6, 0.8]}]}})
    out = await openai(make, stub_server).embed(["x"])
    assert out.vectors == [[0.6, 0.8]] and out.usage == TokenUsage() and out.cost is None
    # An unknown model on a remote host (no call made: only the pricing is asked).
    remote = make(
        "openai:embedding:house-model", base_url="https://embed.example.com/v1", apiKey="k"
    )
    assert remote.price(TokenUsage(prompt=10, total=10)) is None
    # A configured price wins: promptfoo's `cost` is USD per token.
    priced = make(
        "openai:embedding:house-model",
        base_url="https://embed.example.com/v1",
        apiKey="k",
        cost=1e-6,
    )
    assert priced.price(TokenUsage(prompt=10, total=10)) == pytest.approx(1e-5)


async def test_no_texts_no_call(stub_server: StubServer, make: Embedders) -> None:
    out = await openai(make, stub_server).embed([])
    assert out.vectors == [] and out.cost == 0.0 and stub_server.request_count == 0


def test_cache_identity_leaves_out_secrets_and_knobs(stub_server: StubServer) -> None:
    a = create_embedder(
        {"id": SMALL, "config": {"apiBaseUrl": stub_server.base_url, "apiKey": "sk-one"}},
        trust=LOCAL_TRUST,
    )
    b = create_embedder(
        {
            "id": SMALL,
            "config": {"base_url": stub_server.base_url, "apiKey": "sk-two", "timeout": 5},
        },
        trust=LOCAL_TRUST,
    )
    assert a.cache_identity() == b.cache_identity()
    identity = a.cache_identity()
    assert identity["model"] == "text-embedding-3-small"
    assert identity["base_url"] == stub_server.base_url
    assert "sk-" not in str(identity)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("cohere:embed-english", "unknown embedding provider 'cohere:embed-english'"),
        ("openai:chat:gpt-4o-mini", "not an embedding model; write openai:embedding:MODEL"),
        ("openai:embedding:", "names no model"),
        ("openai-compatible:embedding:m", "base_url"),
        ("local:bge-small-en", "the only offline embedding model is all-MiniLM-L6-v2"),
        ({"config": {}}, "needs an `id`"),
    ],
)
def test_bad_refs_are_config_errors(ref: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        create_embedder(ref, where="t.yaml: defaultTest.options.provider", trust=LOCAL_TRUST)
    assert str(err.value).startswith("t.yaml: defaultTest.options.provider")


async def test_similar_through_the_stub(stub_server: StubServer, make: Embedders) -> None:
    """The scorer with a real HTTP embedder: identical texts pass, spend comes back."""
    e = openai(make, stub_server)
    assertion = Assertion(type="similar", value=["unrelated words", "the answer is 4"])
    inp = CheckInput(
        assertion=assertion,
        value=assertion.value,
        output="the answer is 4",
        text="the answer is 4",
        inverse=False,
        ctx=make_ctx("the answer is 4", [assertion]),
    )
    result, spend = await similar_verdict(inp, e)
    assert result.passed and result.score == pytest.approx(1.0)
    assert result.reason == "Similarity 1.00 is greater than or equal to threshold 0.75"
    assert stub_server.request_count == 1  # output and both references in one call
    assert stub_server.requests[0]["body"]["input"] == ["the answer is 4", "unrelated words"]
    assert spend.usage.prompt == 6 and spend.cost == pytest.approx(price(e.model, 6))
