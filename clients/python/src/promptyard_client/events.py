"""Server-sent events, parsed by hand from httpx's line iterator (no extra dependency).

The server's stream (`GET /api/jobs/{id}/events`) sends, per event, `id:` = the event's seq,
`event:` = its type and `data:` = the JSON envelope `{seq, job_id, step_index, type, payload}`;
comment lines (`: ping`) are heartbeats; a blank line ends an event. `SSEDecoder` follows the
WHATWG rules that matter here (multi-line data, one optional space after the colon, `id`
sticking across events, a blank line with no data dispatching nothing) so that a proxy
re-chunking the stream changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError as PydanticValidationError

from promptyard_client.errors import PromptyardError
from promptyard_client.models import JobEvent

__all__ = ["JobEvent", "SSEDecoder", "SSEMessage", "aiter_sse", "iter_sse", "to_job_event"]


@dataclass(frozen=True, slots=True)
class SSEMessage:
    """One dispatched server-sent event, before its data is parsed."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed it lines (without their line break); it returns a message at each blank line."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._retry: int | None = None
        self.last_event_id: str | None = None
        self.comments = 0  # heartbeats seen: lets a caller tell a live stream from a stuck one

    def feed(self, line: str) -> SSEMessage | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif field == "retry" and value.isdigit():
            self._retry = int(value)
        return None  # unknown fields are ignored, as the spec says

    def _dispatch(self) -> SSEMessage | None:
        if not self._data:
            self._event = ""
            return None
        message = SSEMessage(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self.last_event_id,
            retry=self._retry,
        )
        self._event, self._data, self._retry = "", [], None
        return message


def iter_sse(lines: Iterable[str]) -> Iterator[SSEMessage]:
    """The messages in a stream of lines (a message cut off by the end is dropped)."""
    decoder = SSEDecoder()
    for line in lines:
        message = decoder.feed(line)
        if message is not None:
            yield message


async def aiter_sse(lines: AsyncIterable[str]) -> AsyncIterator[SSEMessage]:
    """The async twin of iter_sse."""
    decoder = SSEDecoder()
    async for line in lines:
        message = decoder.feed(line)
        if message is not None:
            yield message


def to_job_event(message: SSEMessage) -> JobEvent:
    """The typed event carried by a message's data (the envelope repeats seq and type)."""
    try:
        return JobEvent.model_validate_json(message.data)
    except PydanticValidationError as exc:
        raise PromptyardError(f"malformed job event (id {message.id}): {exc}") from exc
