"""Resource limits on what arrives over HTTP (TrustPolicy.limits; docs/security.md).

    NestingLimit   400 for a JSON body nested deeper than `max_depth`, naming the field, before
                   any handler parses it (a deep body would otherwise be a RecursionError: 500)
    install        adds NestingLimit to an app (create_app calls it)
    check_upload   an uploaded dataset file: its bytes, rows, depth and YAML aliases

The depth scan never recurses and never parses: bodies with fewer brackets than the limit pass
at the cost of two str.count calls, and long bodies are scanned on a worker thread.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from typing import Any

from fastapi import FastAPI, HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptyard.trust.limits import (
    BYTES_SETTING,
    DEPTH_SETTING,
    ROWS_SETTING,
    json_depth_path,
)
from promptyard.trust.policy import Limits

_METHODS = frozenset({"POST", "PUT", "PATCH"})
_THREAD_ABOVE = 256 * 1024  # bytes: a longer body is scanned off the event loop


def install(app: FastAPI, limits: Limits) -> None:
    """Refuse JSON bodies nested deeper than `limits.max_depth`. Call it before adding
    BodyLimit, so that BodyLimit (added later, hence outer) bounds what this one reads."""
    app.add_middleware(NestingLimit, max_depth=limits.max_depth)


def depth_message(path: str, max_depth: int) -> str:
    return f"{path}: nested deeper than {max_depth} levels (limit: {DEPTH_SETTING})"


class NestingLimit:
    """An ASGI middleware: reads a JSON request body, refuses it with 400 naming the field
    when it nests deeper than `max_depth`, else hands the same body on."""

    def __init__(self, app: ASGIApp, max_depth: int) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: let the app see it
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        text = body.decode("utf-8", "replace")
        if len(body) > _THREAD_ABOVE:
            path = await asyncio.to_thread(json_depth_path, text, self.max_depth)
        else:
            path = json_depth_path(text, self.max_depth)
        if path is not None:
            await _answer(send, 400, depth_message(path, self.max_depth))
            return

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)


def _is_json(scope: Scope) -> bool:
    """A body FastAPI would parse as JSON: JSON by its type, or with no type at all."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind: bytes = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return True


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------- uploads


def check_upload_size(size: int, filename: str, limits: Limits) -> None:
    if size > limits.upload_max_bytes:
        raise HTTPException(
            413,
            f"{filename}: larger than {limits.upload_max_bytes} bytes (limit: {BYTES_SETTING})",
        )


def check_upload(data: bytes, filename: str, limits: Limits) -> None:
    """Refuse an uploaded dataset file over a limit before its rows are read: its rows (a
    count, without building them), its nesting depth, and for YAML its aliases expanded.
    Raises HTTPException(400) or ConfigError (which the app answers with 400)."""
    check_upload_size(len(data), filename, limits)
    ext = os.path.splitext(filename)[1].lower()
    text = data.decode("utf-8-sig", "replace")
    if ext in (".yaml", ".yml"):
        from promptyard.project.yamlio import count_yaml_items

        rows = count_yaml_items(
            text, filename, max_nodes=limits.yaml_max_nodes, max_depth=limits.max_depth
        )
    elif ext == ".json":
        from promptyard.project.yamlio import load_json

        parsed: Any = load_json(text, filename, max_depth=limits.max_depth)
        rows = len(parsed) if isinstance(parsed, list) else 1
    elif ext == ".jsonl":
        rows = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            rows += 1
            path = json_depth_path(line, limits.max_depth)
            if path is not None:
                raise HTTPException(400, f"{filename}: line {number}, "
                                         + depth_message(path, limits.max_depth))  # fmt: skip
    else:  # CSV: records counted by the csv module (a quoted field may span lines)
        try:
            rows = sum(1 for r in csv.reader(io.StringIO(text)) if any(f.strip() for f in r)) - 1
        except csv.Error:
            return  # read_rows reports it, with the row
    check_upload_rows(rows, filename, limits)


def check_upload_rows(rows: int, filename: str, limits: Limits) -> None:
    if rows > limits.upload_max_rows:
        raise HTTPException(
            400,
            f"{filename}: {rows} rows, more than {limits.upload_max_rows} (limit: {ROWS_SETTING})",
        )
