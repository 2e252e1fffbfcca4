"""HuggingFace text classification for the `classifier` assertion (providers/classification.py):
ids, the Inference API's reply shapes, and the trust policy's checks, as for every provider."""

from __future__ import annotations

import asyncio

import pytest
from bench.stub_server import StubServer

from promptyard.errors import ConfigError, PromptyardError, ProviderResponseError
from promptyard.providers.classification import create_classifier, read_classification
from promptyard.trust import TrustPolicy

LOCAL = TrustPolicy()
MODEL = "facebook/roberta-hate-speech-dynabench-r4-target"


def test_default_endpoint_is_the_inference_api() -> None:
    classifier = create_classifier(f"huggingface:text-classification:{MODEL}", trust=LOCAL)
    assert classifier.cache_identity()["endpoint"] == (
        f"https://router.huggingface.co/hf-inference/models/{MODEL}"
    )
    create_classifier(f"hf:text-classification:{MODEL}", trust=LOCAL)


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        (None, "needs a `provider`"),
        ("openai:gpt-4.1-mini", "is not one"),
        ("huggingface:text-generation:gpt2", "is not one"),
        ({"id": f"hf:text-classification:{MODEL}", "config": "x"}, "must be a mapping"),
    ],
)
def test_refused_ids_name_why(ref: object, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        create_classifier(ref, trust=LOCAL)  # type: ignore[arg-type]


def test_reply_shapes() -> None:
    nested = b'[[{"label": "hate", "score": 0.2}, {"label": "nothate", "score": 0.8}]]'
    assert read_classification(nested, "u", "p") == {"hate": 0.2, "nothate": 0.8}
    assert read_classification(b'[{"label": "a", "score": 1}]', "u", "p") == {"a": 1.0}
    with pytest.raises(ProviderResponseError, match="loading"):
        read_classification(b'{"error": "Model is loading"}', "u", "p")


def test_the_trust_policy_refuses_a_host_as_for_every_provider() -> None:
    strict = TrustPolicy(egress_allow=())
    ref = {
        "id": f"hf:text-classification:{MODEL}",
        "config": {"apiEndpoint": "http://127.0.0.1:9/x"},
    }
    with pytest.raises(PromptyardError, match=r"127\.0\.0\.1"):
        create_classifier(ref, trust=strict)


def test_classifies_through_the_stub() -> None:
    server = StubServer()
    server.start_in_thread()
    try:
        endpoint = f"{server.root_url}/hf-inference/models/{MODEL}"
        ref = {
            "id": f"huggingface:text-classification:{MODEL}",
            "config": {"apiEndpoint": endpoint, "apiKey": "hf-k"},
        }
        classifier = create_classifier(ref, trust=LOCAL)

        async def go() -> list[dict[str, float]]:
            try:
                return [await classifier.classify(t) for t in ("a calm sea", "you idiot")]
            finally:
                await classifier.aclose()

        calm, rude = asyncio.run(go())
        assert calm["toxic"] < 0.5 < rude["toxic"]
        sent = [r for r in server.requests if r["path"].startswith("/hf-inference/")]
        assert [r["body"] for r in sent] == [{"inputs": "a calm sea"}, {"inputs": "you idiot"}]
        assert {r["authorization"] for r in sent} == {"Bearer hf-k"}
    finally:
        server.stop_thread()
