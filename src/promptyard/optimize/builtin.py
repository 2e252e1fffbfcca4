"""The built-in optimizers, registered through the plugin hook like any plugin's. Each module
imports its heavy library (optuna, gepa) only when it runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from promptyard.plugins import hookimpl


@hookimpl
def register_optimizers(register: Callable[[Any], None]) -> None:
    from promptyard.optimize import fewshot, gepa_adapter, instruct, mipro

    for module in (fewshot, instruct, mipro, gepa_adapter):
        register(module.info())
