"""Settings from the environment (prefix PROMPTYARD_). Built by a function, never at import.

A plain dataclass rather than pydantic-settings: measured here, importing pydantic-settings
costs 0.13-0.24 s, a large share of the 1 s start-up budget of `promptyard eval`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from promptyard.errors import ConfigError

PREFIX = "PROMPTYARD_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_OPTIONAL_BOOLS = frozenset({"allow_python"})  # bool | None: parsed as booleans when set


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None  # default: sqlite in <project>/.promptyard/promptyard.db
    # Python assertions and providers run user code in-process. None (unset): on for the CLI
    # and library, off on the server (promptyard.trust builds each surface's policy).
    allow_python: bool | None = None
    js_timeout_ms: int = 2000
    js_max_memory_mb: int = 64
    cache: bool = True
    # The judge of model-graded assertions that name no provider (promptfoo's default grader),
    # and the embedding model of `similar` / answer-relevance.
    judge_provider: str = "openai:gpt-4.1"
    embedding_provider: str = "openai:embedding:text-embedding-3-large"
    # The server (`promptyard serve`; docs/server.md).
    host: str = "127.0.0.1"
    port: int = 6969
    projects_root: str | None = None  # default: the bundled examples/
    auth: bool = False  # required when bound to a non-loopback host
    max_concurrent_jobs: int = 1
    queue_length: int = 0  # jobs allowed to wait; 0: a second job is refused with 409
    cors_origins: str = ""  # comma-separated origins allowed to call the API from a browser
    max_body_bytes: int = 10 * 2**20
    rate_limit_per_minute: int = 600  # per token (or per client address without auth)
    # The trust boundary (docs/security.md). Host names besides localhost, 127.0.0.1 and [::1]
    # that a browser may use to reach a loopback server without auth (DNS rebinding guard).
    allowed_hosts: str = ""
    # Environment variables the server may read API keys from (comma-separated). Unset: the
    # vendors' own (OPENAI_API_KEY, ANTHROPIC_API_KEY).
    key_envs: str | None = None
    # Extra hosts a key may be sent to, beyond its vendor's own: "host" for every key,
    # "ENV=host" for one variable's.
    key_hosts: str = ""
    # Hosts, IPs, CIDRs, "loopback" or "private" that providers on the server may call besides
    # public addresses. Unset: "loopback" when the server listens on loopback only, else none.
    egress_allow: str | None = None
    render_timeout_ms: int = 5000  # one template render
    render_max_chars: int = 1_000_000  # one rendered prompt
    max_concurrency: int = 256  # calls in flight per run (a config's maxConcurrency is clamped)
    max_output_chars: int = 1_000_000  # a stored output
    max_reason_chars: int = 20_000  # a stored assertion reason
    max_stored_value_chars: int = 1_000_000  # any other stored text (a var, an error)
    yaml_max_nodes: int = 1_000_000  # YAML nodes after expanding aliases
    max_depth: int = 64  # nesting of a config or an upload
    upload_max_rows: int = 100_000
    upload_max_bytes: int = 10 * 2**20
    job_lease_s: int = 30  # a server's job lease; its jobs are resumable elsewhere after it


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from PROMPTYARD_* variables; a malformed value names its variable."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        name = PREFIX + f.name.upper()
        raw = env.get(name)
        if raw is None:
            continue
        default = False if f.name in _OPTIONAL_BOOLS else f.default
        values[f.name] = _parse(name, raw.strip(), default)
    return Settings(**values)  # type: ignore[arg-type]


def _parse(name: str, raw: str, default: object) -> object:
    if isinstance(default, bool):
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"expected true or false, got {raw!r}", field=name)
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"expected a whole number, got {raw!r}", field=name) from None
    if isinstance(default, str):
        return raw
    return raw or None
