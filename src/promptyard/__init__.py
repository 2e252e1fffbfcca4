"""Promptyard: test, tune and ship LLM prompts.

The library API is imported on first use (PEP 562), so that `promptyard --help` and other
light entry points do not pay for the engine's imports.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from promptyard._version import __version__
from promptyard.errors import ConfigError, PromptyardError, ProviderError, TemplateError

if TYPE_CHECKING:
    from promptyard.library import EvalRequest, EvalResult, evaluate, evaluate_async

_LAZY = {
    "EvalRequest": "promptyard.library",
    "EvalResult": "promptyard.library",
    "evaluate": "promptyard.library",
    "evaluate_async": "promptyard.library",
}

__all__ = [
    "ConfigError",
    "EvalRequest",
    "EvalResult",
    "PromptyardError",
    "ProviderError",
    "TemplateError",
    "__version__",
    "evaluate",
    "evaluate_async",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'promptyard' has no attribute {name!r}")
