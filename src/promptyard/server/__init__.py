"""The FastAPI server: `create_app(settings)` (see docs/server.md).

For a process manager of your own: `uvicorn promptyard.server:app` (the app built from the
PROMPTYARD_* environment on first access) or `uvicorn --factory promptyard.server:create_app`.
"""

from typing import Any

from promptyard.server.factory import create_app

__all__ = ["app", "create_app"]

_app: Any = None


def __getattr__(name: str) -> Any:
    # PEP 562: importing the package builds nothing; `app` is built when a server asks for it.
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(f"module 'promptyard.server' has no attribute {name!r}")
