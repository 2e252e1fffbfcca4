"""What every adapter shares: identity, pricing, credentials lookup (and the trust policy's say
on it), token estimates, the vendor SDKs' checked HTTP client."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from promptyard.core.secrets import safe_url
from promptyard.core.types import ProviderSpec, TokenUsage
from promptyard.errors import ConfigError, ProviderAuthError
from promptyard.providers.config import normalize_config, price_override
from promptyard.providers.openai_flavors import Flavor, default_key_env, key_required
from promptyard.providers.pricing import Pricer
from promptyard.trust import TrustPolicy, egress

if TYPE_CHECKING:
    from promptyard.providers.openai_http import OpenAICompatProvider

# The CLI's and library's policy: allows every key and host (used when none is given).
PERMISSIVE = TrustPolicy()

# Config keys that cannot change an answer: they stay out of cache keys, so changing them
# (a new key, a higher concurrency, a price) keeps the cached answers.
NOT_IDENTITY = frozenset(
    {
        "api_key", "api_key_env", "max_concurrency", "requests_per_minute", "max_retries",
        "timeout", "transport", "cost", "inputCost", "outputCost",
    }
)  # fmt: skip


class BaseProvider:
    """Holds id/label/config and a Pricer; adapters add `complete`."""

    def __init__(self, spec: ProviderSpec, *, prefix: str, model: str) -> None:
        self.id = spec.id
        self.label = spec.label or spec.id
        self.where = spec.where
        self.config: dict[str, Any] = normalize_config(spec.config, spec.where)
        self.model = model
        self.prefix = prefix
        self.pricer = self.make_pricer(self.config.get("base_url"))

    def make_pricer(self, base_url: str | None) -> Pricer:
        return Pricer(
            self.prefix,
            self.model,
            override=price_override(self.config, self.where),
            base_url=base_url,
        )

    def cache_identity(self) -> dict[str, Any]:
        params = {k: v for k, v in sorted(self.config.items()) if k not in NOT_IDENTITY}
        return {"id": self.id, "model": self.model, "config": params}

    async def aclose(self) -> None:
        return None


def resolve_api_key(
    config: dict[str, Any], default_env: str | None, *, read_env: bool = True
) -> tuple[str | None, str | None]:
    """(key, env var it should come from): config api_key, else api_key_env, else default.
    `read_env` False (the trust policy refused the variable) reads no environment variable."""
    key = config.get("api_key")
    if key:
        return str(key), None
    env = config.get("api_key_env") or default_env
    if not env:
        return None, None
    return (os.environ.get(env) or None) if read_env else None, env


def require_api_key(
    provider_id: str, config: dict[str, Any], default_env: str | None, *, read_env: bool = True
) -> str:
    key, env = resolve_api_key(config, default_env, read_env=read_env)
    if key:
        return key
    raise ProviderAuthError(
        f"no API key: set the environment variable {env} (or `api_key` / `api_key_env` in the "
        "provider config)",
        provider=provider_id,
    )


def env_key_allowed(
    trust: TrustPolicy,
    config: dict[str, Any],
    default_env: str | None,
    *,
    required: bool,
    url: str,
    where: str = "",
) -> bool:
    """May this provider read its key from the environment, to send it to `url`'s host?
    ConfigError when the config names or needs a key the policy refuses (trust/egress.py);
    False when an optional default key may not be used (the provider then sends none).
    An inline `api_key` is the config author's own: no variable is read for it."""
    if config.get("api_key"):
        return True
    explicit = config.get("api_key_env")
    env = explicit or default_env
    if not env:
        return True
    host = egress.url_host(url)
    decided = egress.key_env(
        trust, env=env, explicit=bool(explicit), required=required, host=host, where=where
    )
    return decided is not None


def shown_url(url: str) -> str:
    """`url` as messages show it: no userinfo, no query string."""
    return safe_url(url)


def estimate_usage(prompt: str, output: str) -> TokenUsage:
    """Whitespace words as tokens: a cheap, deterministic stand-in for local providers."""
    p = len(prompt.split())
    c = len(output.split())
    return TokenUsage(prompt=p, completion=c, total=p + c)


def usage_from_token_usage(raw: Any) -> TokenUsage:
    """promptfoo's `tokenUsage` mapping ({prompt, completion, total, cached}) as TokenUsage;
    a missing total is prompt + completion."""
    usage = TokenUsage(
        prompt=int(raw.get("prompt") or 0),
        completion=int(raw.get("completion") or 0),
        total=int(raw.get("total") or 0),
        cached=int(raw.get("cached") or 0),
    )
    usage.total = usage.total or usage.prompt + usage.completion
    return usage


def import_vendor(module: str, pip_name: str, where: str = "") -> Any:
    """Import a vendor SDK on first use (they cost ~1 s); say how to install it if missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        from promptyard.errors import ConfigError

        raise ConfigError(
            f"this provider needs the `{module}` package: pip install '{pip_name}'",
            file=where or None,
        ) from None


# -- the vendor SDKs' HTTP client under a strict policy ----------------------------------------


def sdk_http_client(trust: TrustPolicy, sdk: Any) -> Any | None:
    """An httpx2 client for the official SDKs (openai, anthropic) under a strict egress policy:
    every connection resolves its host and checks each address first, then connects to a
    checked address (DNS rebinding gains nothing); redirects are not followed and proxy
    variables are ignored, as in the aiohttp transport. None under a permissive policy: the
    SDK builds its own client, as before."""
    if trust.egress_allow is None:
        return None
    import httpx2

    limits = getattr(sdk, "DEFAULT_CONNECTION_LIMITS", None) or httpx2.Limits(
        max_connections=1000, max_keepalive_connections=100
    )
    transport = httpx2.AsyncHTTPTransport(trust_env=False, limits=limits)
    pool: Any = transport._pool
    pool._network_backend = _checked_backend_type()(trust, pool._network_backend)
    timeout = getattr(sdk, "DEFAULT_TIMEOUT", None) or httpx2.Timeout(600.0, connect=5.0)
    return httpx2.AsyncClient(
        transport=transport, follow_redirects=False, trust_env=False, timeout=timeout
    )


@functools.cache
def _checked_backend_type() -> Any:
    import httpcore2

    class CheckedBackend(httpcore2.AsyncNetworkBackend):
        """Resolves, checks every address (trust/egress.py), connects to the first one."""

        def __init__(self, trust: TrustPolicy, inner: Any) -> None:
            self._trust = trust
            self._inner = inner

        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> Any:
            if egress.host_listed(self._trust, host):
                targets = [host]
            else:
                try:
                    targets = await egress.resolve_checked(self._trust, host, port)
                except egress.EgressRefused:
                    raise
                except OSError as exc:  # no such name: a connection error, as unchecked
                    raise httpcore2.ConnectError(str(exc)) from exc
            failure: Exception | None = None
            for target in targets:  # each address was checked; connect to the first that answers
                try:
                    return await self._inner.connect_tcp(
                        target,
                        port,
                        timeout=timeout,
                        local_address=local_address,
                        socket_options=socket_options,
                    )
                except httpcore2.ConnectError as exc:
                    failure = exc
            raise failure or egress.EgressRefused(f"{host} has no address")

        async def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Any = None
        ) -> Any:
            raise egress.EgressRefused("Unix sockets are not allowed here")

        async def sleep(self, seconds: float) -> None:
            await self._inner.sleep(seconds)

    return CheckedBackend


# -- OpenAI-compatible side endpoints (embeddings, moderation, classification) ---------------


def check_trusted_key_env(
    trust: TrustPolicy | None, raw_config: Mapping[str, Any], where: str
) -> None:
    """With `trust`, refuse a key variable the policy refuses (set or not); no call made."""
    if trust is not None:
        from promptyard.providers.registry import check_key_env_allowed

        check_key_env_allowed(trust, raw_config, where=where)


def check_compat_key(
    provider_id: str, flavor: Flavor, raw_config: Mapping[str, Any], where: str
) -> None:
    """ProviderAuthError naming the variable to set when `flavor` needs a key and none is set."""
    config = normalize_config(raw_config, where)
    if key_required(flavor, config):
        require_api_key(provider_id, config, default_key_env(flavor))


def compat_client(
    provider_id: str,
    flavor: Flavor,
    config: Mapping[str, Any] | None,
    *,
    where: str,
    trust: TrustPolicy | None,
) -> OpenAICompatProvider:
    """The OpenAI-compatible HTTP client for a side endpoint: the trust policy's checks (key
    variable, base URL, egress) are the chat adapter's, applied by OpenAICompatProvider."""
    from promptyard.providers.openai_http import OpenAICompatProvider

    spec = ProviderSpec(id=provider_id, config=dict(config or {}), where=where)
    return OpenAICompatProvider(spec, flavor, trust=trust)


def split_provider_ref(
    ref: Any, where: str, *, config_error: str, id_error: str, id_field: str = "id"
) -> tuple[str, dict[str, Any]]:
    """(id, config) of an id string or an `{id, config}` mapping, else ConfigError."""
    provider_id: Any = ref
    config: Any = {}
    if isinstance(ref, Mapping):
        provider_id, config = ref.get("id"), ref.get("config") or {}
        if not isinstance(config, Mapping):
            raise ConfigError(config_error, file=where or None, field="config")
    if not isinstance(provider_id, str) or not provider_id.strip():
        raise ConfigError(id_error, file=where or None, field=id_field)
    return provider_id.strip(), dict(config)
