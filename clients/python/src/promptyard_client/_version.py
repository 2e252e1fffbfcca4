"""The SDK's version: one place, read by pyproject.toml and sent in the User-Agent."""

__version__ = "0.2.0"
