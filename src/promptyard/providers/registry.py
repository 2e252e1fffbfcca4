"""Provider ids -> adapters. Built-ins register through the same table plugins will use.

Vendor SDKs are imported only when a provider that needs them makes its first call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from promptyard.core.types import ProviderSpec
from promptyard.errors import ConfigError
from promptyard.providers.base import Provider
from promptyard.providers.common import require_api_key
from promptyard.providers.config import normalize_config
from promptyard.providers.openai_flavors import FLAVORS, key_required
from promptyard.trust import TrustPolicy

ProviderFactory = Callable[[ProviderSpec, str], Provider]  # (spec, base_dir) -> provider
CredentialCheck = Callable[[ProviderSpec], None]


@dataclass(frozen=True, slots=True)
class _Entry:
    factory: ProviderFactory
    check: CredentialCheck | None


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
    return entry.factory(spec, base_dir)


def check_credentials(spec: ProviderSpec) -> None:
    """Raise ProviderAuthError, naming the variable to set, when a needed key is missing."""
    entry = _entry(spec)
    if entry.check is not None:
        entry.check(spec)


# -- built-ins -------------------------------------------------------------------------------


def _openai_family(prefix: str) -> tuple[ProviderFactory, CredentialCheck]:
    flavor = FLAVORS[prefix]

    def factory(spec: ProviderSpec, base_dir: str) -> Provider:
        kind = spec.id.split(":")[1] if spec.id.count(":") >= 2 else None
        if kind == "completion":
            raise ConfigError(
                f"{spec.id!r}: the legacy completions API is not supported; use "
                f"{prefix}:chat:MODEL",
                file=spec.where or None,
                field="id",
            )
        cfg = normalize_config(spec.config, spec.where)
        if cfg.get("transport") == "sdk":
            from promptyard.providers.openai_sdk import OpenAISDKProvider

            return OpenAISDKProvider(spec, flavor)
        from promptyard.providers.openai_http import OpenAICompatProvider

        return OpenAICompatProvider(spec, flavor)

    def check(spec: ProviderSpec) -> None:
        cfg = normalize_config(spec.config, spec.where)
        if key_required(flavor, cfg):
            require_api_key(spec.id, cfg, flavor.key_env)

    return factory, check


def _anthropic(spec: ProviderSpec, base_dir: str) -> Provider:
    from promptyard.providers.anthropic_messages import AnthropicProvider

    return AnthropicProvider(spec)


def _anthropic_check(spec: ProviderSpec) -> None:
    from promptyard.providers.anthropic_messages import KEY_ENV

    require_api_key(spec.id, normalize_config(spec.config, spec.where), KEY_ENV)


def _echo(spec: ProviderSpec, base_dir: str) -> Provider:
    from promptyard.providers.echo import EchoProvider

    return EchoProvider(spec)


def _python(spec: ProviderSpec, base_dir: str) -> Provider:
    from promptyard.providers.pyfunc import PythonProvider

    return PythonProvider(spec, base_dir=base_dir)


def _scripted(spec: ProviderSpec, base_dir: str) -> Provider:
    from promptyard.providers.scripted import ScriptedProvider

    return ScriptedProvider(spec)


def _register_builtins() -> None:
    for prefix in FLAVORS:
        factory, check = _openai_family(prefix)
        register_provider(prefix, factory, check_credentials=check)
    register_provider("anthropic", _anthropic, check_credentials=_anthropic_check)
    register_provider("echo", _echo)
    register_provider("python", _python)
    register_provider("file", _python)  # promptfoo: file://provider.py[:fn]
    register_provider("scripted", _scripted)


_register_builtins()
