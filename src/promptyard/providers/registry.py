"""Provider ids -> adapters. Built-ins register through the same table plugins will use.

Vendor SDKs are imported only when a provider that needs them makes its first call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from promptyard.core.types import ProviderSpec
from promptyard.errors import ConfigError
from promptyard.providers.base import Provider
from promptyard.providers.common import require_api_key
from promptyard.providers.config import canonical_keys, normalize_config
from promptyard.providers.openai_flavors import FLAVORS, default_key_env, key_required
from promptyard.providers.unsupported import unsupported_reason
from promptyard.trust import TrustPolicy, egress

ProviderFactory = Callable[[ProviderSpec, str], Provider]  # (spec, base_dir) -> provider
# The built-ins take the policy too: they know their resolved host and key variable.
TrustedFactory = Callable[[ProviderSpec, str, TrustPolicy], Provider]
CredentialCheck = Callable[[ProviderSpec], None]


@dataclass(frozen=True, slots=True)
class _Entry:
    factory: ProviderFactory
    check: CredentialCheck | None
    trusted: TrustedFactory | None = None


_REGISTRY: dict[str, _Entry] = {}


def register_provider(
    prefix: str,
    factory: ProviderFactory,
    *,
    check_credentials: CredentialCheck | None = None,
    replace: bool = False,
) -> None:
    """Make ids "PREFIX" and "PREFIX:..." create providers through `factory`."""
    if prefix in _REGISTRY and not replace:
        raise ValueError(f"provider prefix {prefix!r} is already registered")
    _REGISTRY[prefix] = _Entry(factory, check_credentials)


def unregister_provider(prefix: str) -> None:
    _REGISTRY.pop(prefix, None)


# Providers that run the user's Python in this process.
PYTHON_PREFIXES = frozenset({"python", "file"})


def known_prefixes() -> list[str]:
    return sorted(_REGISTRY)


def provider_prefix(provider_id: str) -> str:
    if provider_id.startswith("file://"):
        return "file"
    return provider_id.partition(":")[0]


def _entry(spec: ProviderSpec) -> _Entry:
    if not isinstance(spec.id, str) or not spec.id:
        raise ConfigError("a provider needs an `id`", file=spec.where or None, field="id")
    entry = _REGISTRY.get(provider_prefix(spec.id))
    if entry is None or entry.trusted is not None:
        # promptfoo's ids that we do not run say what to use instead (a plugin may take them).
        reason = unsupported_reason(spec.id)
        if reason is not None:
            raise ConfigError(f"{spec.id!r}: {reason}", file=spec.where or None, field="id")
    if entry is None:
        raise ConfigError(
            f"unknown provider {spec.id!r}; known prefixes: {', '.join(known_prefixes())}",
            file=spec.where or None,
            field="id",
        )
    return entry


def create_provider(spec: ProviderSpec, *, base_dir: str = ".", trust: TrustPolicy) -> Provider:
    """The adapter for `spec`; ConfigError (naming spec.where) for an unknown id or bad config,
    or for one that `trust` refuses (user Python, a key or host it does not allow)."""
    entry = _entry(spec)
    if provider_prefix(spec.id) in PYTHON_PREFIXES:
        trust.check_python("Python providers", file=spec.where or None, field="id")
    if entry.trusted is not None:
        # Keys and hosts (trust/egress.py): a built-in checks the host it resolved (config,
        # vendor env var or default) and the variable its key comes from, and re-checks
        # every address when it connects.
        return entry.trusted(spec, base_dir, trust)
    _check_plugin_endpoint(spec, trust)
    return entry.factory(spec, base_dir)


def _check_plugin_endpoint(spec: ProviderSpec, trust: TrustPolicy) -> None:
    """For a plugin's provider, what its config names: its URL's host and the variable its
    key comes from (a plugin that reads other variables or hosts is the operator's choice)."""
    if trust.egress_allow is None and trust.key_envs is None:
        return
    cfg = canonical_keys(spec.config)
    url = cfg.get("base_url")
    host = ""
    if isinstance(url, str) and url:
        host = egress.check_url(trust, url, where=spec.where, field="config.base_url")
    env = cfg.get("api_key_env")
    if isinstance(env, str) and env and not cfg.get("api_key"):
        egress.key_env(trust, env=env, explicit=True, required=True, host=host, where=spec.where)


def check_credentials(spec: ProviderSpec, *, trust: TrustPolicy | None = None) -> None:
    """Raise ProviderAuthError, naming the variable to set, when a needed key is missing.
    With `trust`, a variable the policy refuses is refused first (ConfigError), whether it is
    set or not: the answer must not tell which of the server's variables exist."""
    entry = _entry(spec)
    if trust is not None:
        check_key_env_allowed(trust, spec.config, where=spec.where)
    if entry.check is not None:
        entry.check(spec)


def check_key_env_allowed(
    trust: TrustPolicy, config: Mapping[str, Any] | None, *, where: str = ""
) -> None:
    """ConfigError when `config` names a key variable (`apiKeyEnvar`) the policy refuses."""
    if trust.key_envs is None:
        return
    cfg = canonical_keys(config)
    env = cfg.get("api_key_env")
    if isinstance(env, str) and env and not cfg.get("api_key") and env not in trust.key_envs:
        egress.key_env(trust, env=env, explicit=True, required=True, host="", where=where)


# -- built-ins -------------------------------------------------------------------------------


class _BuiltinFactory(Protocol):
    """A built-in's factory: callable as a ProviderFactory and as a TrustedFactory."""

    def __call__(
        self, spec: ProviderSpec, base_dir: str, trust: TrustPolicy | None = None
    ) -> Provider: ...


def _openai_family(prefix: str) -> tuple[_BuiltinFactory, CredentialCheck]:
    flavor = FLAVORS[prefix]

    def factory(spec: ProviderSpec, base_dir: str, trust: TrustPolicy | None = None) -> Provider:
        kind = spec.id.split(":")[1] if spec.id.count(":") >= 2 else None
        if kind == "completion":
            raise ConfigError(
                f"{spec.id!r}: the legacy completions API is not supported; use "
                f"{prefix}:chat:MODEL",
                file=spec.where or None,
                field="id",
            )
        cfg = normalize_config(spec.config, spec.where)
        if kind == "responses" and prefix == "openai":
            # The Responses API is a different wire format: the official SDK speaks it.
            from promptyard.providers.openai_sdk import OpenAIResponsesProvider

            return OpenAIResponsesProvider(spec, flavor, trust=trust)
        if cfg.get("transport") == "sdk":
            from promptyard.providers.openai_sdk import OpenAISDKProvider

            return OpenAISDKProvider(spec, flavor, trust=trust)
        from promptyard.providers.openai_http import OpenAICompatProvider

        return OpenAICompatProvider(spec, flavor, trust=trust)

    def check(spec: ProviderSpec) -> None:
        cfg = normalize_config(spec.config, spec.where)
        if key_required(flavor, cfg):
            require_api_key(spec.id, cfg, default_key_env(flavor))

    return factory, check


def _anthropic(spec: ProviderSpec, base_dir: str, trust: TrustPolicy | None = None) -> Provider:
    from promptyard.providers.anthropic_messages import AnthropicProvider

    return AnthropicProvider(spec, trust=trust)


def _anthropic_check(spec: ProviderSpec) -> None:
    from promptyard.providers.anthropic_messages import KEY_ENV

    require_api_key(spec.id, normalize_config(spec.config, spec.where), KEY_ENV)


def _echo(spec: ProviderSpec, base_dir: str) -> Provider:
    from promptyard.providers.echo import EchoProvider

    return EchoProvider(spec)


def _python(spec: ProviderSpec, base_dir: str, trust: TrustPolicy | None = None) -> Provider:
    from promptyard.providers.pyfunc import PythonProvider

    # The policy confines the file at import time (no window between a check and the import).
    return PythonProvider(spec, base_dir=base_dir, trust=trust)


def _scripted(spec: ProviderSpec, base_dir: str) -> Provider:
    from promptyard.providers.scripted import ScriptedProvider

    return ScriptedProvider(spec)


def _register_builtins() -> None:
    for prefix in FLAVORS:
        factory, check = _openai_family(prefix)
        _REGISTRY[prefix] = _Entry(factory, check, trusted=factory)
    _REGISTRY["anthropic"] = _Entry(_anthropic, _anthropic_check, trusted=_anthropic)
    register_provider("echo", _echo)
    _REGISTRY["python"] = _Entry(_python, None, trusted=_python)
    _REGISTRY["file"] = _Entry(_python, None, trusted=_python)  # promptfoo: file://x.py[:fn]
    register_provider("scripted", _scripted)


_register_builtins()
