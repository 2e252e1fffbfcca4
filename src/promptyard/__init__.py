"""Promptyard: test, tune and ship LLM prompts."""

from promptyard.errors import ConfigError, PromptyardError, ProviderError, TemplateError
from promptyard.library import EvalRequest, EvalResult, evaluate, evaluate_async

__all__ = [
    "ConfigError",
    "EvalRequest",
    "EvalResult",
    "PromptyardError",
    "ProviderError",
    "TemplateError",
    "evaluate",
    "evaluate_async",
]
