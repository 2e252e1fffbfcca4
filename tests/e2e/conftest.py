"""Fixtures for end-to-end tests (helpers live in clitools.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.stub_server import StubServer
from tests.e2e.clitools import Project


@pytest.fixture
def project(tmp_path: Path, stub_server: StubServer) -> Iterator[Project]:
    root = tmp_path / "proj"
    root.mkdir()
    yield Project(root, stub_server)
