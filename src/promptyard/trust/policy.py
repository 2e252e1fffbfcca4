"""TrustPolicy: one object that every entry point asks before it acts on untrusted input.

    python    may user Python run here, and from where (python: providers, python
              assertions, .py files)
    files     which files a config may read (files.py: one resolver for every reference)
    keys      which environment variables may supply API keys, and to which hosts they go
    egress    which hosts a provider may call (egress.py)
    limits    how big or deep input may be and how long a template may render (limits.py)

The CLI and the library act for the local user, who owns the machine: `TrustPolicy.local`
allows what the user's own shell could do. The server runs configs written by other people:
`TrustPolicy.server` is strict, and each rule is a setting (docs/server.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from promptyard.errors import ConfigError
from promptyard.settings import Settings

# The environment variables that hold each vendor's key, and the hosts each key may go to.
# A key goes only to its own vendor unless the operator lists more hosts (PROMPTYARD_KEY_HOSTS).
_AZURE = frozenset({"*.openai.azure.com", "*.cognitiveservices.azure.com"})
VENDOR_KEY_HOSTS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "OPENAI_API_KEY": frozenset({"api.openai.com"}),
        "ANTHROPIC_API_KEY": frozenset({"api.anthropic.com"}),
        # OpenAI-compatible vendors (providers/openai_flavors.py), promptfoo's variable names.
        "AZURE_API_KEY": _AZURE,
        "AZURE_OPENAI_API_KEY": _AZURE,
        "OPENROUTER_API_KEY": frozenset({"openrouter.ai"}),
        "GROQ_API_KEY": frozenset({"api.groq.com"}),
        "DEEPSEEK_API_KEY": frozenset({"api.deepseek.com"}),
        "TOGETHER_API_KEY": frozenset({"api.together.xyz"}),
        "MISTRAL_API_KEY": frozenset({"api.mistral.ai"}),
        "PERPLEXITY_API_KEY": frozenset({"api.perplexity.ai"}),
        "FIREWORKS_API_KEY": frozenset({"api.fireworks.ai"}),
        "XAI_API_KEY": frozenset({"api.x.ai"}),
        "CEREBRAS_API_KEY": frozenset({"api.cerebras.ai"}),
        "GEMINI_API_KEY": frozenset({"generativelanguage.googleapis.com"}),
        "GOOGLE_API_KEY": frozenset({"generativelanguage.googleapis.com"}),
    }
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes and deadlines for untrusted input (each a setting; docs/security.md)."""

    render_timeout_s: float = 5.0
    render_max_chars: int = 1_000_000
    max_concurrency: int = 256
    max_output_chars: int = 1_000_000
    max_reason_chars: int = 20_000
    max_stored_value_chars: int = 1_000_000
    yaml_max_nodes: int = 1_000_000  # nodes after alias expansion
    max_depth: int = 64
    upload_max_rows: int = 100_000
    upload_max_bytes: int = 10 * 2**20


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """What untrusted input may reach. Immutable; built once per app or command."""

    allow_python: bool = True
    # Files: every reference resolves through files.resolve; confined, it must stay inside the
    # config's folder (a project's folder on the server) and an inline config reads none.
    confine_files: bool = False
    # Keys: None resolves any environment variable (the local user's shell); else only these.
    key_envs: frozenset[str] | None = None
    # Extra hosts a key may go to, beyond its vendor's own: {env name or "*": hosts}.
    key_hosts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Egress: None calls any host; else public hosts plus these entries (host names, IPs,
    # CIDRs, "loopback", "private"): private and loopback addresses are refused unless listed.
    egress_allow: tuple[str, ...] | None = None
    # Upstream error bodies: summarised (status and a short code) instead of echoed.
    summarize_upstream_errors: bool = False
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def local(cls, settings: Settings | None = None) -> TrustPolicy:
        """The CLI's and library's policy: the local user's own power, with resource caps."""
        allow = True if settings is None or settings.allow_python is None else settings.allow_python
        return cls(allow_python=allow, limits=_limits(settings) if settings else Limits())

    @classmethod
    def server(cls, settings: Settings, *, loopback: bool = True) -> TrustPolicy:
        """The server's policy: strict by default; `loopback` (a server bound only to this
        machine) allows calls to loopback hosts, so local model servers keep working."""
        key_envs = _names(settings.key_envs) if settings.key_envs is not None else None
        egress = _names(settings.egress_allow) if settings.egress_allow is not None else None
        if egress is None:
            egress = frozenset({"loopback"}) if loopback else frozenset()
        return cls(
            allow_python=bool(settings.allow_python),  # None (unset) means off here
            confine_files=True,
            key_envs=key_envs if key_envs is not None else frozenset(VENDOR_KEY_HOSTS),
            key_hosts=_key_hosts(settings.key_hosts),
            egress_allow=tuple(sorted(egress)),
            summarize_upstream_errors=True,
            limits=_limits(settings),
        )

    # -- python ---------------------------------------------------------------------------

    def check_python(self, what: str, *, file: str | None = None, field: str | None = None) -> None:
        """Refuse user Python (`what` says which: "Python providers", "Python assertions")."""
        if not self.allow_python:
            raise ConfigError(
                f"{what} run code in this process, which is not allowed here"
                " (the operator can set PROMPTYARD_ALLOW_PYTHON=true)",
                file=file,
                field=field,
            )


def _names(raw: str) -> frozenset[str]:
    return frozenset(p.strip() for p in raw.split(",") if p.strip())


def _key_hosts(raw: str) -> dict[str, frozenset[str]]:
    """ "host, ENV=host2" -> {"*": {host}, "ENV": {host2}}."""
    out: dict[str, set[str]] = {}
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        env, sep, host = part.partition("=")
        key, value = (env.strip(), host.strip()) if sep else ("*", env.strip())
        out.setdefault(key, set()).add(value.lower())
    return {k: frozenset(v) for k, v in out.items()}


def _limits(settings: Settings) -> Limits:
    return Limits(
        render_timeout_s=settings.render_timeout_ms / 1000.0,
        render_max_chars=settings.render_max_chars,
        max_concurrency=settings.max_concurrency,
        max_output_chars=settings.max_output_chars,
        max_reason_chars=settings.max_reason_chars,
        max_stored_value_chars=settings.max_stored_value_chars,
        yaml_max_nodes=settings.yaml_max_nodes,
        max_depth=settings.max_depth,
        upload_max_rows=settings.upload_max_rows,
        upload_max_bytes=settings.upload_max_bytes,
    )
