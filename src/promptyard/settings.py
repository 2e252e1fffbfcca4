"""Settings from the environment (prefix PROMPTYARD_). Built by a function, never at import."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMPTYARD_", extra="ignore")

    database_url: str | None = None  # default: sqlite in <project>/.promptyard/promptyard.db
    allow_python: bool = True  # python assertions and providers run user code in-process
    js_timeout_ms: int = 2000
    js_max_memory_mb: int = 64
    cache: bool = True


def load_settings() -> Settings:
    return Settings()
