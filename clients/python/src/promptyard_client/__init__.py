"""promptyard-client: a small, typed client for a Promptyard server (sync and async).

from promptyard_client import Client
with Client("http://127.0.0.1:6969") as client:
    prompt = client.get_deployed_prompt("greeting")
"""

from promptyard_client import models
from promptyard_client._render import TemplateRenderError
from promptyard_client._version import __version__
from promptyard_client.async_client import AsyncClient
from promptyard_client.client import Client
from promptyard_client.errors import (
    AuthenticationError,
    ConflictError,
    JobTimeoutError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    PromptyardError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from promptyard_client.models import JobEvent

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "JobEvent",
    "JobTimeoutError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "PromptyardError",
    "RateLimitError",
    "ServerError",
    "TemplateRenderError",
    "ValidationError",
    "__version__",
    "models",
]
