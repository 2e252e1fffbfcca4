"""Read a server-sent event stream the way the spec says (no SDK): fields `id`, `event`,
`data` (joined with newlines), comments ignored, a blank line ends an event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Sse:
    id: str | None
    event: str
    data: str
    comments: int  # heartbeat comments seen before this event

    @property
    def json(self) -> Any:
        return json.loads(self.data)


def iter_sse(lines: Iterator[str]) -> Iterator[Sse]:
    id_: str | None = None
    event, data, comments = "message", [], 0
    for line in lines:
        if line == "":
            if data:
                yield Sse(id_, event, "\n".join(data), comments)
            event, data, comments = "message", [], 0
            continue
        if line.startswith(":"):
            comments += 1
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            id_ = value
        elif field == "event":
            event = value
        elif field == "data":
            data.append(value)


def read_stream(url: str, *, headers: dict[str, str] | None = None, timeout: float = 30.0,
                stop_after: int | None = None) -> list[Sse]:  # fmt: skip
    """Every event until the server closes the stream (or `stop_after` events)."""
    out: list[Sse] = []
    with httpx.stream("GET", url, headers=headers or {}, timeout=timeout) as resp:
        resp.raise_for_status()
        assert resp.headers["content-type"].startswith("text/event-stream")
        for event in iter_sse(resp.iter_lines()):
            out.append(event)
            if stop_after is not None and len(out) >= stop_after:
                break
    return out
