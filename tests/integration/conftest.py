"""Fixtures: the engine harness `h`; and for the store suites, which run once per backend, a
module-scoped database on SQLite and on PostgreSQL (skipped with the reason where PostgreSQL
is not reachable) and its store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.integration.enginetools import Harness
from tests.pgtools import pg_schema_url

from promptyard.store import Store


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database for the module; test_store.py overrides this per test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
        return
    with pg_schema_url(request.module.__name__.rsplit(".", 1)[-1][5:]) as url:
        yield url


@pytest.fixture(scope="module")
def opened(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
async def h(tmp_path: Path, store: Store) -> AsyncIterator[Harness]:
    """The engine harness on the test module's `store`; closes the providers it made."""
    harness = Harness(tmp_path, store)
    yield harness
    for p in harness.made:
        await p.aclose()
