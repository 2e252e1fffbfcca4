"""Shared fixtures: the local LLM stub server on 127.0.0.1 at a random port, and Debian's
Chromium for the browser tests (tests/e2e, tests/ui)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from bench.stub_server import StubServer
from tests.e2e.browser import in_ci, launch, missing_browser_reason

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def _stub_server_session() -> Iterator[StubServer]:
    server = StubServer()
    with server.running():
        yield server


@pytest.fixture
def stub_server(_stub_server_session: StubServer) -> Iterator[StubServer]:
    """The running stub, reset for this test.

    `.base_url` is ".../v1"; script failures with `.script({...})` / `.fail_first(n, 429)`;
    count calls with `.request_count` or `.stats()`; see bench/stub_server.py.
    """
    _stub_server_session.reset()
    _stub_server_session.set_latency(0.0)
    yield _stub_server_session
    _stub_server_session.reset()


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    """Checked once per session: Debian's Chromium and Playwright are here.

    Without them the browser tests fail under CI=true (CI must prove the reports in a real
    browser) and skip, saying why, elsewhere.
    """
    reason = missing_browser_reason()
    if reason is not None:
        if in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(chromium_ready: None) -> Iterator[Browser]:
    """Headless Debian Chromium (/usr/bin/chromium) through Playwright's sync API.

    Launched once per module, not per session: while a sync Playwright is open its event loop
    counts as running in this thread, so every later `asyncio.run` (and each async test) in
    the session would fail with "cannot be called from a running event loop".
    """
    with launch() as chromium:
        yield chromium
