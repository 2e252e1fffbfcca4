"""The store: the only package that knows SQL (SQLAlchemy 2 Core + Alembic).

`Store` and `RunRecord` are imported on first use (PEP 562): SQLAlchemy costs ~0.2 s to import,
and `promptyard eval` opens the store on a background thread while its first calls are in
flight (see library.py), so the URL helpers must not pull SQLAlchemy in.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from promptyard.store.common import FINISH_STATUSES
from promptyard.store.urls import default_database_url, normalize_url

if TYPE_CHECKING:
    from promptyard.store.store import RunRecord, Store

_LAZY = {"RunRecord", "Store"}

__all__ = ["FINISH_STATUSES", "RunRecord", "Store", "default_database_url", "normalize_url"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module("promptyard.store.store"), name)
    raise AttributeError(f"module 'promptyard.store' has no attribute {name!r}")
