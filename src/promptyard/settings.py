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


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None  # default: sqlite in <project>/.promptyard/promptyard.db
    allow_python: bool = True  # python assertions and providers run user code in-process
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


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from PROMPTYARD_* variables; a malformed value names its variable."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        name = PREFIX + f.name.upper()
        raw = env.get(name)
        if raw is None:
            continue
        values[f.name] = _parse(name, raw.strip(), f.default)
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
    return raw or None
