"""The SDK when the network misbehaves, over real sockets on 127.0.0.1:

- a closed port (NetworkError, retried with backoff);
- a tiny scripted HTTP server answering 429/502/503/504 or hanging up, to pin the retry
  policy (which the real server cannot be made to exhibit on demand);
- a TCP proxy in front of the real server that cuts the event stream once, mid-event, so the
  client's own resume (Last-Event-ID, no duplicates) is what the test sees;
- the real server stopped under get_deployed_prompt (the last good copy is served).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from bench.serverctl import ServerProcess, free_port, running_server
from bench.stub_server import StubServer
from promptyard_client import (
    AsyncClient,
    Client,
    NetworkError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from promptyard_client._base import MAX_RETRY_AFTER, retry_delay
from promptyard_client.events import SSEDecoder, iter_sse

# -- SSE parsing (pure) ----------------------------------------------------------------------


def test_sse_decoder_follows_the_spec() -> None:
    lines = [
        ": ping - 2026-11-30",  # a heartbeat
        "",  # a blank line with no data dispatches nothing
        "id: 1",
        "event: trial",
        'data: {"a":',
        "data:1}",  # no space after the colon; two data lines join with \n
        "",
        "retry: 3000",
        "data: plain",
        "",
        "unknown: field",
        "data: cut off by the end of the stream",
    ]
    messages = list(iter_sse(lines))
    assert [(m.id, m.event, m.data) for m in messages] == [
        ("1", "trial", '{"a":\n1}'),
        ("1", "message", "plain"),  # the id sticks; the event type does not
    ]
    assert messages[1].retry == 3000
    decoder = SSEDecoder()
    decoder.feed(": ping\r\n")
    assert decoder.comments == 1


def test_retry_delay_backs_off_with_jitter_and_caps_retry_after() -> None:
    for attempt, ceiling in ((0, 0.5), (1, 1.0), (2, 2.0), (10, 8.0)):
        delay = retry_delay(attempt)
        assert 0.75 * ceiling <= delay <= ceiling
    assert retry_delay(0, 2.5) == 2.5
    assert retry_delay(0, 3600) == MAX_RETRY_AFTER


# -- a closed port ---------------------------------------------------------------------------


def test_network_error_on_a_closed_port() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, max_retries=0) as client, pytest.raises(NetworkError) as info:
        client.health()
    assert info.value.status_code is None
    assert "ConnectError" in str(info.value)
    started = time.monotonic()
    with Client(url, max_retries=2) as client, pytest.raises(NetworkError):
        client.run_manual_eval({"prompts": ["x"]})  # refused before sending: safe to retry
    assert time.monotonic() - started >= 0.75 * (0.5 + 1.0)  # two backoffs were waited


async def test_network_error_on_a_closed_port_async() -> None:
    async with AsyncClient(f"http://127.0.0.1:{free_port()}", max_retries=1) as client:
        with pytest.raises(NetworkError):
            await client.list_jobs()


# -- the retry policy, against a scripted server ---------------------------------------------


@dataclass
class Scripted:
    """A real HTTP server on 127.0.0.1 answering from a queue: (status, body, headers), or
    "drop" to hang up without an answer. Then 200 {"status": "ok"} once the queue is empty."""

    answers: deque[Any] = field(default_factory=deque)
    hits: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def add(self, *answers: Any) -> None:
        self.answers.extend(answers)


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    script = Scripted()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            script.hits.append((self.command, self.path, dict(self.headers.items())))
            answer = script.answers.popleft() if script.answers else (200, {"status": "ok"}, {})
            if answer == "drop":
                self.close_connection = True
                return
            status, body, headers = answer
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield script
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def busy(status: int, **headers: str) -> tuple[int, dict[str, str], dict[str, str]]:
    return (status, {"detail": f"status {status}"}, headers)


def test_get_is_retried_on_503_then_succeeds(scripted: Scripted) -> None:
    scripted.add(busy(503), busy(504))
    with Client(scripted.url) as client:
        assert client.health().status == "ok"
    assert [hit[1] for hit in scripted.hits] == ["/api/health"] * 3


def test_retries_stop_after_max_retries(scripted: Scripted) -> None:
    scripted.add(busy(502), busy(502), busy(502), busy(502))
    with Client(scripted.url, max_retries=2) as client, pytest.raises(ServerError) as info:
        client.health()
    assert info.value.status_code == 502 and info.value.detail == "status 502"
    assert len(scripted.hits) == 3


@pytest.mark.parametrize("status", [502, 504, 500])
def test_post_is_not_retried_on_a_status_it_may_have_acted_on(
    scripted: Scripted, status: int
) -> None:
    scripted.add(busy(status))
    with Client(scripted.url) as client, pytest.raises(ServerError):
        client.run_manual_eval({"prompts": ["x"]})
    assert len(scripted.hits) == 1


def test_post_is_retried_on_503_and_429(scripted: Scripted) -> None:
    scripted.add(busy(503), busy(429, **{"Retry-After": "0"}), (202, {"job_id": "j1"}, {}))
    with Client(scripted.url) as client:
        assert client.run_manual_eval({"prompts": ["x"]}).job_id == "j1"
    assert [hit[0] for hit in scripted.hits] == ["POST"] * 3


def test_429_honours_retry_after(scripted: Scripted) -> None:
    scripted.add(busy(429, **{"Retry-After": "0.4"}))
    started = time.monotonic()
    with Client(scripted.url) as client:
        client.health()
    assert time.monotonic() - started >= 0.4
    scripted.add(busy(429, **{"Retry-After": "7"}))
    with Client(scripted.url, max_retries=0) as client, pytest.raises(RateLimitError) as info:
        client.health()
    assert info.value.retry_after == 7 and info.value.status_code == 429


def test_a_hang_up_is_retried_for_get_not_for_post(scripted: Scripted) -> None:
    scripted.add("drop")
    with Client(scripted.url) as client:
        assert client.health().status == "ok"
    assert len(scripted.hits) == 2
    scripted.hits.clear()
    scripted.add("drop")
    with Client(scripted.url) as client, pytest.raises(NetworkError):
        client.cancel_job("j1")  # the server may have acted: a POST is not sent twice
    assert len(scripted.hits) == 1


async def test_async_retry_policy(scripted: Scripted) -> None:
    scripted.add(busy(503), (200, {"status": "ok"}, {}), busy(502))
    async with AsyncClient(scripted.url) as client:
        assert (await client.health()).status == "ok"
        with pytest.raises(ServerError):
            await client.cancel_job("j1")
    assert [hit[0] for hit in scripted.hits] == ["GET", "GET", "POST"]


def version_body(version: int) -> dict[str, Any]:
    return {"name": "greet", "version": version, "template": f"v{version}", "config": {},
            "content_hash": "h", "created_at": "2026-11-30T00:00:00+00:00"}  # fmt: skip


def test_deployed_prompt_served_from_cache_on_5xx(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.add((200, version_body(1), {}), busy(500), (200, version_body(2), {}))
    with Client(scripted.url, max_retries=0) as client:
        assert client.get_deployed_prompt("greet").version == 1
        assert client.get_deployed_prompt("greet").version == 1  # fresh: no request
        assert len(scripted.hits) == 1
        with caplog.at_level(logging.WARNING, logger="promptyard_client"):
            assert client.get_deployed_prompt("greet", ttl=0).version == 1  # the 500
        assert "serving the cached greet:production (version 1)" in caplog.text
        assert client.get_deployed_prompt("greet", ttl=0).version == 2  # back up
        assert scripted.hits[0][1] == "/api/prompts/greet?label=production"


# -- a stream cut by a proxy -----------------------------------------------------------------


RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a RST


class CuttingProxy:
    """A TCP proxy to `port` that, once, hangs up an event stream in the middle of its
    `cut_at`-th event (both sides, no FIN courtesy: what a dropped connection looks like)."""

    def __init__(self, port: int, cut_at: int) -> None:
        self.upstream = port
        self.cut_at = cut_at
        self.armed = True
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self.listener]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):  # shutdown wakes a thread blocked on it
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            self._sockets += [client, upstream]
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, src: socket.socket, dst: socket.socket) -> None:
        index = len(self.requests)
        self.requests.append(b"")
        try:
            while data := src.recv(65536):
                self.requests[index] += data
                dst.sendall(data)
        except OSError:
            pass

    def _down(self, src: socket.socket, dst: socket.socket) -> None:
        seen = b""
        try:
            while data := src.recv(65536):
                if self.armed and b"text/event-stream" in seen + data:
                    start = len(seen)
                    seen += data
                    at = -1
                    for _ in range(self.cut_at):
                        at = seen.find(b"event: ", at + 1)
                        if at < 0:
                            break
                    if at >= 0:  # forward up to the middle of that event, then hang up
                        self.armed = False
                        dst.sendall(data[: at + 10 - start] if at + 10 > start else b"")
                        for sock in (src, dst):
                            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
                            sock.shutdown(socket.SHUT_RDWR)  # wakes the other pump's recv
                            sock.close()
                        return
                dst.sendall(data)
        except OSError:
            pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("sdk-resilience")) as proc:
        yield proc


SLOW = {"max_concurrency": 1, "cache": False}


def slow_config(stub: StubServer, cases: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    provider = {"id": "openai:chat:gpt-4o-mini",
                "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test"}}  # fmt: skip
    return {"prompts": ["Answer {{q}}"], "providers": [provider],
            "tests": [{"vars": {"q": f"{tag}-{i}"}} for i in range(cases)]}  # fmt: skip


def test_stream_resumes_by_itself_after_a_cut(
    server: ServerProcess, stub_server: StubServer
) -> None:
    stub_server.set_latency(150)
    port = int(server.url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, cut_at=4)
    try:
        with Client(server.url) as direct, Client(f"http://127.0.0.1:{proxy.port}") as via:
            job = direct.run_manual_eval(slow_config(stub_server, 8), options=SLOW)
            events = list(via.stream_job(job.job_id))
            stored = direct.get_job(job.job_id).events
    finally:
        proxy.close()
    assert not proxy.armed, "the proxy never cut the stream"
    assert [e.seq for e in events] == list(range(1, 11))  # once each, in order, to the end
    assert [e.model_dump() for e in events] == [e.model_dump() for e in stored]
    assert events[-1].type == "end" and events[-1].payload["status"] == "succeeded"
    streams = [r for r in proxy.requests if b"/events" in r]
    assert len(streams) >= 2
    assert b"last-event-id: 3\r\n" in streams[1].lower()  # 3 whole events arrived before it


async def test_stream_resumes_by_itself_after_a_cut_async(
    server: ServerProcess, stub_server: StubServer
) -> None:
    stub_server.set_latency(150)
    port = int(server.url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, cut_at=3)
    try:
        async with (
            AsyncClient(server.url) as direct,
            AsyncClient(f"http://127.0.0.1:{proxy.port}") as via,
        ):
            job = await direct.run_manual_eval(slow_config(stub_server, 6), options=SLOW)
            events = [event async for event in via.stream_job(job.job_id)]
    finally:
        proxy.close()
    assert not proxy.armed
    assert [e.seq for e in events] == list(range(1, 9))
    assert events[-1].type == "end"


# -- the server stopped under get_deployed_prompt --------------------------------------------


def deploy(url: str, name: str) -> None:
    with Client(url) as admin:
        admin.create_prompt(name, "Hello {{name}}")
        admin.set_label(name, "production", 1)


def test_deployed_prompt_survives_the_server_stopping(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_server(tmp_path) as server:
        deploy(server.url, "greet")
        with Client(server.url, max_retries=1) as client:
            first = client.get_deployed_prompt("greet")
            assert first.version == 1 and first.template == "Hello {{name}}"
            server.stop()
            assert client.get_deployed_prompt("greet") == first  # within the TTL: no request
            with caplog.at_level(logging.WARNING, logger="promptyard_client"):
                assert client.get_deployed_prompt("greet", ttl=0) == first
            assert "unreachable" in caplog.text and "greet:production" in caplog.text
            with pytest.raises(NetworkError):
                client.get_deployed_prompt("greet", label="staging")  # never fetched: no copy
        with Client(server.url, max_retries=0) as fresh, pytest.raises(NetworkError):
            fresh.get_deployed_prompt("greet")


async def test_deployed_prompt_survives_the_server_stopping_async(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_server(tmp_path) as server:
        deploy(server.url, "greet")
        async with AsyncClient(server.url, max_retries=0, prompt_cache_ttl=0) as client:
            first = await client.get_deployed_prompt("greet")
            with pytest.raises(NotFoundError):
                await client.get_deployed_prompt("greet", label="staging")
            server.stop()
            with caplog.at_level(logging.WARNING, logger="promptyard_client"):
                assert await client.get_deployed_prompt("greet") == first
            assert "serving the cached greet:production" in caplog.text
