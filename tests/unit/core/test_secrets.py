"""Which keys hold secrets, and redaction that hides them without copying the rest."""

from __future__ import annotations

import pytest

from promptyard.core.secrets import REDACTED, is_secret_key, redact


@pytest.mark.parametrize(
    "key", ["apiKey", "api_key", "key", "access_token", "password", "Authorization", "secret",
            "privateKey", "authToken"],
)  # fmt: skip
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["api_key_env", "apiKeyEnvar", "max_tokens", "token_limit", "cache_key", "model",
            "keywords", ""],
)  # fmt: skip
def test_not_secret_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_hides_secrets_at_any_depth_and_shares_the_rest() -> None:
    tests = [{"vars": {"q": i}} for i in range(1000)]
    config = {
        "providers": [{"id": "openai:gpt-4.1", "config": {"apiKey": "sk-1", "temperature": 0,
                                                           "headers": {"Authorization": "B x"}}}],
        "tests": tests,
    }  # fmt: skip
    out = redact(config)
    assert out["providers"][0]["config"] == {"apiKey": REDACTED, "temperature": 0,
                                             "headers": {"Authorization": REDACTED}}  # fmt: skip
    assert config["providers"][0]["config"]["apiKey"] == "sk-1"  # the input is not changed
    assert out["tests"] is tests  # nothing secret there: shared, not copied
    clean = {"a": [1, {"b": 2}]}
    assert redact(clean) is clean
    assert redact({"apiKey": ""}) == {"apiKey": ""}  # nothing to hide
