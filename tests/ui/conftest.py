"""Fixtures for the UI tests: a real `promptyard serve` on 127.0.0.1 and Debian's Chromium.

The browser tests fail under CI=true when Chromium or Playwright is missing (the UI must be
proven in a real browser there) and skip, saying why, elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from bench.serverctl import ServerProcess, running_server
from tests.e2e.browser import in_ci, launch, missing_browser_reason

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    reason = missing_browser_reason()
    if reason is not None:
        if in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(chromium_ready: None) -> Iterator[Browser]:
    """One Chromium per module (a sync Playwright holds this thread's event loop)."""
    with launch() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with the bundled example projects imported (auth off, loopback)."""
    tmp: Path = tmp_path_factory.mktemp("ui")
    with running_server(tmp) as server:
        yield server
