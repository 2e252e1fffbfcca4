"""The lean aiohttp transport and the official SDK's send the same requests (item 9): the
same config through both, to the loopback stub, and what arrived is compared. Also: proxies
from the environment (and the strict policy ignoring them), Azure's deployment URLs, and the
Responses API (through the SDK)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from bench.stub_server import StubServer

from promptyard.core.types import CompletionRequest, ProviderSpec
from promptyard.errors import ProviderServerError
from promptyard.providers import create_provider
from promptyard.trust import TrustPolicy

LOCAL = TrustPolicy()
# Headers whose presence and value both transports decide (the SDK adds its own telemetry).
COMPARED = (
    "authorization", "api-key", "content-type", "openai-organization", "openai-project",
    "x-custom",
)  # fmt: skip
PROXY_ENVS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def req(text: str = "hello there world") -> CompletionRequest:
    return CompletionRequest(prompt=text, messages=[{"role": "user", "content": text}])


@pytest.fixture(autouse=True)
def _no_ambient(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*PROXY_ENVS, "OPENAI_ORG_ID", "OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Any]]:
    made: list[Any] = []

    def build(id: str, trust: TrustPolicy = LOCAL, **config: Any) -> Any:
        p = create_provider(ProviderSpec(id=id, config=config, where="t.yaml"), trust=trust)
        made.append(p)
        return p

    yield build
    for p in made:
        await p.aclose()


def _arrived(entry: dict[str, Any]) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    return {
        "path": entry.get("path_qs", entry["path"]),
        "body": entry["body"],
        "headers": {k: headers.get(k) for k in COMPARED},
    }


def _without_ids(output: Any) -> Any:
    """The stub numbers its tool calls; the rest of an output must match."""
    if isinstance(output, list):
        return [{k: v for k, v in call.items() if k != "id"} for call in output]
    return output


CONFIGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "params": {"temperature": 0, "max_tokens": 20, "seed": 7, "stop": ["\n\n"], "top_p": 0.5},
    "account_and_headers": {
        "organization": "org-9",
        "project": "proj-9",
        "headers": {"X-Custom": "yes"},
    },
    "passthrough_and_unknown": {"passthrough": {"custom": {"a": 1}}, "safe_prompt": True},
    "tools": {
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": "required",
    },
    "json_schema": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        }
    },
    "stream": {"stream": True},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
async def test_both_transports_send_the_same_request(
    stub_server: StubServer, make: Callable[..., Any], name: str
) -> None:
    seen = []
    outputs = []
    for transport in ("aiohttp", "sdk"):
        p = make(
            "openai:gpt-4o-mini",
            apiBaseUrl=stub_server.base_url,
            apiKey="sk-test",
            transport=transport,
            **CONFIGS[name],
        )
        outputs.append(_without_ids((await p.complete(req())).output))
        seen.append(_arrived(stub_server.requests[-1]))
    assert seen[0] == seen[1]
    assert outputs[0] == outputs[1]
    assert seen[0]["headers"]["authorization"] == "Bearer sk-test"


async def test_org_and_project_from_the_environment_reach_openai_alike(
    stub_server: StubServer, make: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
    seen = []
    for transport in ("aiohttp", "sdk"):
        p = make("openai:m", apiBaseUrl=stub_server.base_url, apiKey="k", transport=transport)
        await p.complete(req())
        seen.append(_arrived(stub_server.requests[-1]))
    assert seen[0] == seen[1]
    assert seen[0]["headers"]["openai-organization"] == "org-env"
    assert seen[0]["headers"]["openai-project"] == "proj-env"
    # Another flavor does not get the OpenAI account, through either transport.
    for transport in ("aiohttp", "sdk"):
        p = make("vllm:m", apiBaseUrl=stub_server.base_url, transport=transport)
        await p.complete(req())
        assert _arrived(stub_server.requests[-1])["headers"]["openai-organization"] is None


@pytest.mark.parametrize("transport", ["aiohttp", "sdk"])
async def test_proxy_from_the_environment_and_no_proxy(
    stub_server: StubServer,
    make: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", stub_server.root_url)
    far = "http://model.example.invalid/v1"  # reachable only through the proxy
    p = make("openai:m", apiBaseUrl=far, apiKey="k", transport=transport, maxRetries=0)
    assert (await p.complete(req("via proxy"))).output == "via proxy"
    assert stub_server.requests[-1]["headers"]["Host"] == "model.example.invalid"

    monkeypatch.setenv("NO_PROXY", "example.invalid")
    p = make("openai:m", apiBaseUrl=far, apiKey="k", transport=transport)
    with pytest.raises(ProviderServerError):
        await p.complete(req())


@pytest.mark.parametrize("transport", ["aiohttp", "sdk"])
async def test_strict_policy_ignores_proxies(
    stub_server: StubServer,
    make: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    """A proxy would resolve and connect for us, around the egress checks: never used."""
    monkeypatch.setenv("HTTP_PROXY", stub_server.root_url)
    strict = TrustPolicy(egress_allow=("loopback",), key_envs=frozenset())
    p = make("openai:m", strict, apiBaseUrl="http://model.example.invalid/v1", apiKey="k",
             transport=transport)  # fmt: skip
    with pytest.raises(ProviderServerError):
        await p.complete(req())
    assert stub_server.requests == []


# -- Azure and the Responses API against a small recording server ---------------------------


class Recorder:
    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.log.append(
            {"path": request.path, "path_qs": request.path_qs, "body": body,
             "headers": dict(request.headers)}
        )  # fmt: skip
        if request.path.endswith("/responses"):
            return web.json_response(_response_body(body))
        text = body["messages"][-1]["content"]
        return web.json_response(
            {
                "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
            }
        )  # fmt: skip


def _response_body(body: dict[str, Any]) -> dict[str, Any]:
    text = body["input"][-1]["content"]
    return {
        "id": "resp_1", "object": "response", "created_at": 0, "model": body["model"],
        "status": "completed", "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "output": [{"type": "message", "id": "m1", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": text.upper(),
                                 "annotations": []}]}],
        "usage": {"input_tokens": 4, "output_tokens": 2, "total_tokens": 6,
                  "input_tokens_details": {"cached_tokens": 1},
                  "output_tokens_details": {"reasoning_tokens": 0}},
    }  # fmt: skip


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}"
    yield rec
    await runner.cleanup()


async def test_azure_through_both_transports(
    recorder: Recorder, make: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_API_KEY", "az-secret")
    seen = []
    for transport in ("aiohttp", "sdk"):
        p = make("azure:chat:my-deploy", apiBaseUrl=recorder.url, transport=transport,
                 temperature=0)  # fmt: skip
        assert (await p.complete(req("hi azure"))).output == "hi azure"
        seen.append(_arrived(recorder.log[-1]))
    assert seen[0] == seen[1]
    assert (
        seen[0]["path"] == "/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21"
    )
    assert seen[0]["headers"]["api-key"] == "az-secret"
    assert seen[0]["headers"]["authorization"] is None


async def test_responses_api_goes_through_the_sdk(
    recorder: Recorder, make: Callable[..., Any]
) -> None:
    p = make("openai:responses:gpt-4.1-mini", apiBaseUrl=recorder.url + "/v1", apiKey="k",
             max_tokens=30, instructions="Be brief", reasoning_effort="low")  # fmt: skip
    c = await p.complete(req("hello"))
    assert c.output == "HELLO"
    assert (c.usage.prompt, c.usage.completion, c.usage.total, c.usage.cached) == (4, 2, 6, 1)
    sent = recorder.log[-1]
    assert sent["path"] == "/v1/responses"
    assert sent["body"]["input"] == [{"role": "user", "content": "hello"}]
    assert sent["body"]["max_output_tokens"] == 30
    assert sent["body"]["instructions"] == "Be brief"
    assert sent["body"]["reasoning"] == {"effort": "low"}
