"""Shared fixtures: the local LLM stub server on 127.0.0.1 at a random port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bench.stub_server import StubServer


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
