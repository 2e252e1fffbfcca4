"""Keys, hosts and redaction through a real `promptyard serve` over HTTP, with the loopback
stub as every upstream (its request log shows what arrived, headers included).

Finding 4: a server environment variable named by a config (`apiKeyEnvar`), or a vendor's key
sent to a foreign `apiBaseUrl`, reached whatever host the config named; upstream error bodies
came back in trial errors. Finding 9: header values, `credentials` fields and secrets in URLs
were stored and shown to read-only tokens, in exports and in trial errors.

Every check reads what a read-only token can (job detail, events over SSE, runs, trials,
reports), what `promptyard export-job` writes, and the server's log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.serverctl import REPO, ServerProcess, running_server
from bench.stub_server import StubServer

SERVER_CANARY = "canary-server-var-7c1e"  # a server variable no config may name
OPENAI_CANARY = "sk-canary-openai-4b2d"  # the operator's OpenAI key
ANTHROPIC_CANARY = "sk-ant-canary-9a0f"  # the operator's Anthropic key
STUB_KEY = "sk-stub-allowed-55aa"  # a key the operator allowed, for 127.0.0.1 only
ENV = {
    "PROMPTYARD_AUTH": "true",
    "SERVER_SECRET": SERVER_CANARY,
    "OPENAI_API_KEY": OPENAI_CANARY,
    "ANTHROPIC_API_KEY": ANTHROPIC_CANARY,
    "STUB_KEY": STUB_KEY,
    # The operator's settings: STUB_KEY may supply keys, and only to 127.0.0.1.
    "PROMPTYARD_KEY_ENVS": "OPENAI_API_KEY,ANTHROPIC_API_KEY,STUB_KEY",
    "PROMPTYARD_KEY_HOSTS": "STUB_KEY=127.0.0.1",
}
SERVER_SECRETS = (SERVER_CANARY, OPENAI_CANARY, ANTHROPIC_CANARY)
FINISHED = ("succeeded", "failed", "cancelled", "interrupted")


def make_token(db: str, scope: str) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "promptyard.cli",
            "token",
            "create",
            "--name",
            f"t-{scope}",
            "--scope",
            scope,
            "--db",
            db,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO / "src")},
    )
    return out.stdout.strip().splitlines()[-1]


class Yard:
    """The server, a writer's and a reader's headers, and everything a reader can see."""

    def __init__(
        self, server: ServerProcess, writer: str | None, reader: str | None, tmp: Path
    ) -> None:
        self.server = server
        self.api = server.api
        self.write = {"Authorization": f"Bearer {writer}"} if writer else {}
        self.read = {"Authorization": f"Bearer {reader}"} if reader else {}
        self.tmp = tmp

    def submit(self, config: dict[str, Any]) -> dict[str, Any]:
        """The finished job, or {"refused": detail} for a 400 at submit (the pre-flight)."""
        resp = httpx.post(f"{self.api}/evaluate", json={"config": config}, headers=self.write)
        if resp.status_code == 400:
            return {"refused": resp.json()["detail"], "text": resp.text}
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["job_id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job: dict[str, Any] = httpx.get(f"{self.api}/jobs/{job_id}", headers=self.read).json()
            if job["job"]["status"] in FINISHED:
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not finish")

    def seen_by_reader(self, job: dict[str, Any]) -> str:
        """Every answer a read token gets about `job` (the writer's 400, when it was refused at
        submit), the export and the server's log."""
        seen = [
            httpx.get(f"{self.api}/jobs", headers=self.read).text,
            self.server.output(),
            httpx.get(f"{self.api}/profiles", headers=self.read).text,
        ]
        if "refused" in job:
            return "\n".join([job["text"], *seen])
        job_id, run_id = job["job"]["id"], job["job"]["run_id"]
        seen.append(httpx.get(f"{self.api}/jobs/{job_id}", headers=self.read).text)
        with httpx.stream(
            "GET", f"{self.api}/jobs/{job_id}/events", headers=self.read, timeout=30
        ) as sse:
            seen.append("".join(sse.iter_text()))
        if run_id:
            for path in (
                "",
                "/trials",
                "/report?format=json",
                "/report?format=csv",
                "/report?format=md",
                "/report?format=html",
            ):
                resp = httpx.get(f"{self.api}/runs/{run_id}{path}", headers=self.read)
                assert resp.status_code in (200, 404), resp.text  # 404: failed before its run
                seen.append(resp.text)
        out = self.tmp / f"export-{job_id}"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "promptyard.cli",
                "export-job",
                job_id,
                "--dir",
                str(out),
                "--db",
                self.server.db,
            ],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(REPO / "src")},
        )
        seen += [p.read_text() for p in sorted(out.iterdir())]
        return "\n".join(seen)


def refusal(job: dict[str, Any]) -> str:
    """Why a job was refused: at submit (400) or when it ran (the job's error)."""
    if "refused" in job:
        return str(job["refused"])
    assert job["job"]["status"] == "failed", job
    return str(job["job"]["error"])


@pytest.fixture(scope="module")
def yard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Yard]:
    tmp = tmp_path_factory.mktemp("security-keys")
    db = f"sqlite:///{tmp / 'keys.db'}"
    writer, reader = make_token(db, "write"), make_token(db, "read")
    with running_server(tmp, env=ENV, db=db) as server:
        yield Yard(server, writer, reader, tmp)


def config_for(provider: dict[str, Any] | str, **extra: Any) -> dict[str, Any]:
    """A one-case config; its prompt is new each time, so no answer comes from the cache."""
    return {
        "prompts": [f"Say {{{{word}}}} ({uuid.uuid4().hex[:8]})"],
        "providers": [provider],
        "tests": [{"vars": {"word": "hello"}}],
        **extra,
    }


def stub_saw(stub: StubServer) -> str:
    """Every header (and path) of every request the stub received."""
    return "\n".join(f"{r['path']} {r['headers']}" for r in stub.requests)


def assert_no_leak(text: str, secrets: tuple[str, ...]) -> None:
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"leaked {leaked}"


# -- finding 4: keys and hosts ---------------------------------------------------------------


def test_a_server_variable_named_by_a_config_never_leaves(yard: Yard, stub: StubServer) -> None:
    provider = {
        "id": "openai:chat:stub-model",
        "config": {"apiBaseUrl": stub.base_url, "apiKeyEnvar": "SERVER_SECRET"},
    }
    job = yard.submit(config_for(provider))
    assert "SERVER_SECRET may not supply keys" in refusal(job)
    assert_no_leak(stub_saw(stub), SERVER_SECRETS)
    assert_no_leak(yard.seen_by_reader(job), SERVER_SECRETS)


@pytest.mark.parametrize(
    ("provider_id", "base"),
    [
        ("openai:chat:stub-model", "v1"),
        ("anthropic:messages:claude-sonnet-4-5", "root"),
        ("openai:chat:stub-model@sdk", "v1"),
    ],
)
def test_a_vendor_key_goes_only_to_its_vendor(
    yard: Yard, stub: StubServer, provider_id: str, base: str
) -> None:
    url = stub.base_url if base == "v1" else stub.root_url
    config: dict[str, Any] = {"apiBaseUrl": url}
    if provider_id.endswith("@sdk"):
        provider_id, config["transport"] = provider_id.removesuffix("@sdk"), "sdk"
    job = yard.submit(config_for({"id": provider_id, "config": config}))
    assert "PROMPTYARD_KEY_HOSTS" in refusal(job)
    assert_no_leak(stub_saw(stub), SERVER_SECRETS)
    assert_no_leak(yard.seen_by_reader(job), SERVER_SECRETS)


@pytest.mark.parametrize("kind", ["llm-rubric", "similar"])
def test_judges_and_embedders_keep_the_vendor_key_too(
    yard: Yard, stub: StubServer, kind: str
) -> None:
    """The task model's key is inline (the author's own); a judge or an embedder would use the
    operator's OPENAI_API_KEY on the stub's host: refused, and no key goes."""
    task = {
        "id": "openai:chat:stub-model",
        "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-authors-own"},
    }
    model = "openai:chat:stub-model" if kind == "llm-rubric" else "openai:embedding:stub-embed"
    config = config_for(task)
    config["tests"][0]["assert"] = [
        {
            "type": kind,
            "value": "hello",
            "threshold": 0.1,
            "provider": {"id": model, "config": {"apiBaseUrl": stub.base_url}},
        },
    ]
    job = yard.submit(config)
    seen = yard.seen_by_reader(job)
    assert "PROMPTYARD_KEY_HOSTS" in seen
    assert_no_leak(stub_saw(stub), SERVER_SECRETS)
    assert_no_leak(seen, (*SERVER_SECRETS, "sk-authors-own"))


def test_an_allowed_key_goes_only_to_its_listed_host(yard: Yard, stub: StubServer) -> None:
    allowed = {
        "id": "openai:chat:stub-model",
        "config": {"apiBaseUrl": stub.base_url, "apiKeyEnvar": "STUB_KEY"},
    }
    job = yard.submit(config_for(allowed))
    assert job["job"]["status"] == "succeeded", job
    assert f"Bearer {STUB_KEY}" in stub_saw(stub)
    assert_no_leak(yard.seen_by_reader(job), (STUB_KEY, *SERVER_SECRETS))

    stub.reset()
    other = f"http://localhost:{stub.port}/v1"  # the same stub, under a name not listed
    job = yard.submit(config_for({**allowed, "config": {**allowed["config"], "apiBaseUrl": other}}))
    assert "not to localhost" in refusal(job)
    assert stub.requests == []


def test_upstream_error_bodies_are_summarised(yard: Yard, stub: StubServer) -> None:
    body = {"error": {"message": "db=postgres://app:internal-canary@10.0.0.5", "code": "boom"}}
    stub.script(
        {"status": 400, "body": body},
        {"status": 200, "body": "<html>internal admin page canary-page</html>"},
        {"status": 200, "body": {"not": "a completion", "secret": "canary-json"}},
    )
    provider = {
        "id": "openai:chat:stub-model",
        "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-inline"},
    }
    config = config_for(provider, evaluateOptions={"maxConcurrency": 1})
    config["tests"] = [{"vars": {"word": w}} for w in ("a", "b", "c")]
    job = yard.submit(config)
    seen = yard.seen_by_reader(job)
    assert_no_leak(seen, ("internal-canary", "canary-page", "canary-json", "10.0.0.5"))
    assert "code boom" in seen and "withheld" in seen


# -- egress ----------------------------------------------------------------------------------


def test_private_loopback_and_metadata_hosts_are_refused_unless_listed(
    tmp_path: Path, stub: StubServer
) -> None:
    env = {"PROMPTYARD_EGRESS_ALLOW": "10.1.2.3"}  # not loopback: the stub is off limits
    with running_server(tmp_path, env=env) as server:
        yard = Yard(server, None, None, tmp_path)
        for url in (
            stub.base_url,
            f"http://localhost:{stub.port}/v1",
            "http://169.254.169.254/latest/meta-data",
            "http://[::ffff:127.0.0.1]:1/v1",
            "http://0x7f000001:1/v1",
            "http://10.9.9.9:1/v1",
        ):
            provider = {
                "id": "openai:chat:stub-model",
                "config": {"apiBaseUrl": url, "apiKey": "sk-inline"},
            }
            # refused at submit (a pre-flight resolves and checks), or by the job, or by its
            # connection (a name is checked again when connecting)
            job = yard.submit(config_for(provider))
            assert "PROMPTYARD_EGRESS_ALLOW" in json.dumps(job), (url, job)
        assert stub.requests == []


def test_a_name_is_checked_again_when_connecting(stub: StubServer) -> None:
    """A provider built on the event loop (as a job builds it) does not look names up; its
    connection does, and refuses the answer (here: loopback, not listed): no call, no retry."""
    import asyncio

    from promptyard.core.types import CompletionRequest, ProviderSpec
    from promptyard.errors import ProviderError
    from promptyard.providers import create_provider
    from promptyard.trust import TrustPolicy

    strict = TrustPolicy(key_envs=frozenset(), egress_allow=("10.0.0.0/8",))
    url = f"http://localhost:{stub.port}/v1"

    async def call(transport: str) -> ProviderError:
        spec = ProviderSpec(
            id="openai:chat:stub-model",
            config={"apiBaseUrl": url, "apiKey": "sk-x", "transport": transport},
        )
        provider = create_provider(spec, trust=strict)
        try:
            await provider.complete(CompletionRequest(prompt="hi", messages=[]))
        except ProviderError as exc:
            return exc
        finally:
            await provider.aclose()
        raise AssertionError("the call was made")

    for transport in ("aiohttp", "sdk"):
        err = asyncio.run(call(transport))
        assert "not allowed" in str(err) and not err.retryable, err
    assert stub.requests == []


# -- finding 9: redaction --------------------------------------------------------------------


def test_credentials_in_headers_urls_and_fields_never_reach_a_reader(
    yard: Yard, stub: StubServer
) -> None:
    secrets = (
        "canary-apim",
        "canary-cookie",
        "canary-cred",
        "canary-userinfo",
        "canary-query",
        "canary-closed-user",
        "canary-custom",
    )
    good = {
        "id": "openai-compatible:stub-model",
        "label": "good",
        "config": {
            "apiBaseUrl": f"http://user:canary-userinfo@127.0.0.1:{stub.port}/v1",
            "headers": {
                "Ocp-Apim-Subscription-Key": "canary-apim",
                "Cookie": "session=canary-cookie",
                "X-Custom": "canary-custom",
                "Content-Type": "application/json",
            },
            "credentials": {"user": "me", "password": "canary-cred"},
        },
    }
    query = {
        "id": "openai-compatible:stub-model",
        "label": "query",
        "config": {"apiBaseUrl": f"http://127.0.0.1:{stub.port}/v1?api_key=canary-query"},
    }
    closed = {
        "id": "openai-compatible:stub-model",
        "label": "closed",
        "config": {"apiBaseUrl": "http://me:canary-closed-user@127.0.0.1:1/v1", "maxRetries": 0},
    }
    config = config_for(good)
    config["providers"] += [query, closed]
    job = yard.submit(config)
    assert job["job"]["run_id"], job
    assert "canary-apim" in stub_saw(stub)  # the author's headers went where the config says
    seen = yard.seen_by_reader(job)
    assert_no_leak(seen, secrets)
    assert "cannot reach http://127.0.0.1:1/v1/chat/completions" in seen  # the URL, shown safely

    # A profile (readable by every token) may not hold any of them.
    for cfg in (
        {"headers": {"Cookie": "x=canary"}},
        {"credentials": {"p": "canary"}},
        {"apiBaseUrl": "http://u:canary@host/v1"},
        {"headers": {"X-Custom": "canary"}},
    ):
        resp = httpx.post(
            f"{yard.api}/profiles",
            headers=yard.write,
            json={"name": "p", "provider_id": "openai:chat:m", "config": cfg},
        )
        assert resp.status_code == 400, (cfg, resp.text)
    assert "canary" not in httpx.get(f"{yard.api}/profiles", headers=yard.read).text


@pytest.fixture
def stub(stub_server: StubServer) -> StubServer:
    return stub_server
