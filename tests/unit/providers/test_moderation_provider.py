"""The moderation model behind promptfoo's `moderation` assertion (providers/moderation.py):
ids, promptfoo's reading of a result, and the trust policy's checks, as for embeddings."""

from __future__ import annotations

import asyncio

import pytest
from bench.stub_server import StubServer

from promptyard.errors import ConfigError, PromptyardError
from promptyard.providers.moderation import (
    DEFAULT_MODERATION_PROVIDER,
    ModerationFlag,
    create_moderator,
    flags_of,
    is_moderation_ref,
)
from promptyard.trust import TrustPolicy

LOCAL = TrustPolicy()


def test_ids_that_name_a_moderation_model() -> None:
    assert is_moderation_ref("openai:moderation:omni-moderation-latest")
    assert is_moderation_ref({"id": "openai:moderation:text-moderation-latest"})
    assert not is_moderation_ref("openai:gpt-4.1-mini")  # a chat judge: the default is used
    assert not is_moderation_ref(None)
    moderator = create_moderator(DEFAULT_MODERATION_PROVIDER, trust=LOCAL)
    assert moderator.cache_identity()["model"] == "omni-moderation-latest"


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("azure:moderation:x", "Azure Content Safety"),
        ("replicate:moderation:meta/llama-guard", "Replicate"),
        ("openai:gpt-4.1-mini", "not a moderation model"),
        ("nope:moderation:x", "not a moderation model"),
        ({"id": "openai:moderation:m", "config": "x"}, "must be a mapping"),
    ],
)
def test_refused_ids_name_why(ref: object, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        create_moderator(ref, trust=LOCAL)  # type: ignore[arg-type]


def test_flags_are_the_true_categories_of_a_flagged_result() -> None:
    result = {
        "flagged": True,
        "categories": {"violence": True, "hate": False, "harassment": True},
        "category_scores": {"violence": 0.9, "hate": 0.1, "harassment": 0.7},
    }
    assert flags_of(result) == [ModerationFlag("violence", 0.9), ModerationFlag("harassment", 0.7)]
    assert flags_of({**result, "flagged": False}) == []  # promptfoo reads only flagged results


def test_the_trust_policy_refuses_a_host_as_for_every_provider() -> None:
    strict = TrustPolicy(egress_allow=())  # public hosts only: loopback refused
    ref = {"id": "openai:moderation:m", "config": {"apiBaseUrl": "http://127.0.0.1:9/v1"}}
    with pytest.raises(PromptyardError, match=r"127\.0\.0\.1"):
        create_moderator(ref, trust=strict)


def test_moderates_through_the_stub() -> None:
    server = StubServer()
    base = server.start_in_thread()
    try:
        ref = {
            "id": "openai:moderation:omni-moderation-latest",
            "config": {"apiBaseUrl": base, "api_key": "k"},
        }
        moderator = create_moderator(ref, trust=LOCAL)

        async def go() -> list[list[ModerationFlag]]:
            try:
                return await moderator.moderate(["a calm sea", "I will KILL, you idiot"])
            finally:
                await moderator.aclose()

        clean, bad = asyncio.run(go())
        assert clean == []
        assert {f.code for f in bad} == {"violence", "harassment"}
        (sent,) = [r for r in server.requests if r["path"] == "/v1/moderations"]
        assert sent["body"]["input"] == ["a calm sea", "I will KILL, you idiot"]
        assert sent["authorization"] == "Bearer k"
    finally:
        server.stop_thread()
