"""Text classifiers for the `classifier` assertion: HuggingFace's Inference API, over HTTP.

Ids, as promptfoo spells them (a string, or a mapping `{id, config}`):

    huggingface:text-classification:MODEL    e.g. MODEL facebook/roberta-hate-speech-dynabench-r4
    hf:text-classification:MODEL

POST {endpoint} with `{"inputs": text}`; the reply is `[[{"label", "score"}, ...]]` (or one
level less). The endpoint is `config.apiEndpoint` (also `base_url`/`apiBaseUrl`: a dedicated
Inference Endpoint, a local TEI server), else https://router.huggingface.co/hf-inference/models/
MODEL. The token is `config.apiKey`, else the variable `apiKeyEnvar` names, else HF_API_TOKEN
when set (promptfoo's); none is sent without one.

The request goes through the OpenAI-compatible client (providers/openai_http.py, its side-endpoint
POST), so the trust policy's checks are those of every provider: the endpoint's host
(trust/egress.py), which variable may supply the token and where it may go, the resolver's address
checks under a strict policy. Creating a classifier makes no call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from promptyard.errors import ConfigError, ProviderResponseError
from promptyard.providers.common import compat_client, split_provider_ref
from promptyard.trust import TrustPolicy

DEFAULT_ENDPOINT = "https://router.huggingface.co/hf-inference/models/{model}"
TOKEN_ENV = "HF_API_TOKEN"
DEFAULT_TIMEOUT_S = 60.0
_PREFIXES = ("huggingface", "hf")
_KIND = "text-classification"
_ENDPOINT_KEYS = ("apiEndpoint", "base_url", "apiBaseUrl")


class Classifier(Protocol):
    id: str

    async def classify(self, text: str) -> dict[str, float]:
        """Each class label's score for `text`."""
        ...

    def cache_identity(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


def create_classifier(
    ref: str | Mapping[str, Any], *, where: str = "", trust: TrustPolicy
) -> Classifier:
    """The classifier `ref` names; ConfigError (naming `where`) when it names none, or when the
    trust policy refuses its endpoint or its token's variable."""
    provider_id, config = _split_ref(ref, where)
    return HFClassifier(provider_id, _model(provider_id, where), config, where=where, trust=trust)


class HFClassifier:
    """POST {"inputs": text} to a HuggingFace text-classification endpoint."""

    def __init__(
        self,
        provider_id: str,
        model: str,
        config: Mapping[str, Any],
        *,
        where: str = "",
        trust: TrustPolicy,
    ) -> None:
        from promptyard.providers.openai_flavors import FLAVORS

        self.id = provider_id
        self.model = model
        endpoint = next((config[k] for k in _ENDPOINT_KEYS if config.get(k)), None)
        if endpoint is not None and not isinstance(endpoint, str):
            raise ConfigError("apiEndpoint must be a URL", file=where or None, field="config")
        self.endpoint = (endpoint or DEFAULT_ENDPOINT.format(model=model)).rstrip("/")
        client_config: dict[str, Any] = {"base_url": self.endpoint}
        for key in ("apiKey", "api_key", "apiKeyEnvar", "api_key_env", "headers", "timeout"):
            if config.get(key) is not None:
                client_config[key] = config[key]
        if not any(k in client_config for k in ("apiKey", "api_key", "apiKeyEnvar", "api_key_env")):
            client_config["api_key_env"] = TOKEN_ENV  # sent when set, as promptfoo does
            client_config["api_key_required"] = False
        self._parameters = config.get("parameters")
        self._client = compat_client(f"openai-compatible:{model}", FLAVORS["openai-compatible"],
                                     client_config, where=where, trust=trust)  # fmt: skip
        timeout = client_config.get("timeout")
        self._timeout_s = float(timeout) if isinstance(timeout, int | float) else DEFAULT_TIMEOUT_S

    async def classify(self, text: str) -> dict[str, float]:
        body: dict[str, Any] = {"inputs": text}
        if isinstance(self._parameters, Mapping):
            body["parameters"] = dict(self._parameters)
        raw = await self._client._post_api(self.endpoint, body, self._timeout_s)
        return read_classification(raw, self.endpoint, self.id)

    def cache_identity(self) -> dict[str, Any]:
        return {"id": self.id, "endpoint": self.endpoint, "parameters": self._parameters}

    async def aclose(self) -> None:
        await self._client.aclose()


def read_classification(raw: bytes, shown: str, provider: str) -> dict[str, float]:
    """{label: score} from the Inference API's reply (a list of {label, score}, or a list of
    such lists, one per input); ProviderResponseError naming the endpoint otherwise."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, list) and data and isinstance(data[0], list):
        data = data[0]
    if isinstance(data, list) and all(
        isinstance(row, dict)
        and isinstance(row.get("label"), str)
        and isinstance(row.get("score"), int | float)
        for row in data
    ):
        return {row["label"]: float(row["score"]) for row in data}
    error = data.get("error") if isinstance(data, dict) else None
    note = f"error: {error}" if isinstance(error, str) else "not a list of {label, score}"
    raise ProviderResponseError(
        f"not a text-classification response from {shown}: {note}", provider=provider
    )


def _split_ref(ref: Any, where: str) -> tuple[str, dict[str, Any]]:
    return split_provider_ref(
        ref,
        where,
        config_error="a classification provider's config must be a mapping",
        id_error="the classifier assertion needs a `provider` such as "
        "huggingface:text-classification:MODEL (promptfoo has no default one)",
        id_field="provider",
    )


def _model(provider_id: str, where: str) -> str:
    prefix, _, rest = provider_id.partition(":")
    kind, sep, model = rest.partition(":")
    if prefix not in _PREFIXES or kind != _KIND or not sep or not model:
        raise ConfigError(
            f"the classifier assertion needs a text-classification model and {provider_id!r} "
            "is not one; write huggingface:text-classification:MODEL (HuggingFace's Inference "
            "API, or an endpoint in config.apiEndpoint)",
            file=where or None,
            field="id",
        )
    return model
