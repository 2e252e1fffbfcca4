"""The package version: one place, read by pyproject.toml and `promptyard --version`."""

__version__ = "0.1.0"
