"""Fixtures for end-to-end tests (helpers live in clitools.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from bench.stub_server import StubServer
from tests.e2e.browser import in_ci, launch, missing_browser_reason
from tests.e2e.clitools import Project

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture
def project(tmp_path: Path, stub_server: StubServer) -> Iterator[Project]:
    root = tmp_path / "proj"
    root.mkdir()
    yield Project(root, stub_server)


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
