"""Fixtures for the UI tests: a real `promptyard serve` on 127.0.0.1 (the `browser` fixture,
Debian's Chromium, is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.serverctl import ServerProcess, running_server


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with the bundled example projects imported (auth off, loopback)."""
    tmp: Path = tmp_path_factory.mktemp("ui")
    with running_server(tmp) as server:
        yield server
