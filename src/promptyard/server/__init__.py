"""The FastAPI server: `create_app(settings)` (see docs/server.md)."""

from promptyard.server.app import create_app

__all__ = ["create_app"]
