"""Every error is JSON `{"detail": ...}` with the right status; a bug is a 500 logged with a
request id (which the answer carries, so a user can quote it), never a stack trace."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from promptyard.errors import ConfigError, PromptyardError

log = logging.getLogger("promptyard.server")

# Our exception classes by name -> HTTP status (names, so the store's classes need no import).
_STATUS = {
    "NotFound": 404,
    "RunNotFound": 404,
    "Conflict": 409,
    "JobsBusy": 409,
    "QueueFull": 429,
    "RowErrors": 400,
    "ProviderAuthError": 400,
}


def status_for(exc: BaseException) -> int:
    for cls in type(exc).__mro__:
        if cls.__name__ in _STATUS:
            return _STATUS[cls.__name__]
    if isinstance(exc, ConfigError | ValueError):
        return 400
    return 500


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, 422)

    @app.exception_handler(PromptyardError)
    async def domain_error(request: Request, exc: PromptyardError) -> JSONResponse:
        status = status_for(exc)
        if status == 500:
            return _bug(request, exc)
        body: dict[str, Any] = {"detail": _without_location(request, str(exc))}
        rows = getattr(exc, "errors", None)
        if isinstance(rows, list):
            body["errors"] = rows
        return JSONResponse(body, status)

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> JSONResponse:
        body: dict[str, Any] = {"detail": _without_location(request, str(exc))}
        rows = getattr(exc, "errors", None)
        if isinstance(rows, list):
            body["errors"] = rows
        return JSONResponse(body, 400)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        return _bug(request, exc)


def _without_location(request: Request, message: str) -> str:
    """Store errors name their database for the CLI's user; a client of the server must not
    learn where the server keeps its data."""
    store = getattr(request.app.state, "store", None)
    where = getattr(store, "where", None) if store is not None else None
    return message.replace(where, "the database") if where else message


def _bug(request: Request, exc: BaseException) -> JSONResponse:
    request_id = str(uuid.uuid4())
    log.error("request %s %s %s failed", request_id, request.method, request.url.path,
              exc_info=exc)  # fmt: skip
    return JSONResponse({"detail": f"internal error (request id {request_id})"}, 500)
