"""The store: the only package that knows SQL (SQLAlchemy 2 Core + Alembic)."""

from promptyard.store.store import FINISH_STATUSES, RunRecord, Store
from promptyard.store.urls import default_database_url, normalize_url

__all__ = ["FINISH_STATUSES", "RunRecord", "Store", "default_database_url", "normalize_url"]
