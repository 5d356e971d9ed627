"""Every error is JSON: `{"error": {"code": ..., "message": ...}}`, and no input gets a 500.

Errors raised by the core map to statuses here, in one place, so routes stay free of try/except:

- unknown run, approval or conversation: 404;
- an approval already decided or expired, a conversation still busy: 409;
- invalid task text, context, edited arguments or a policy refusal of an edit: 422;
- text PostgreSQL cannot store (a NUL character): 422;
- self-approval: 403.

Error bodies are bounded whatever the request: at most `MAX_ERROR_DETAILS` field errors (the rest are
counted in `details_omitted`), and messages and the parts of a field's `loc` cut to a few hundred
characters, so a 256 KB request of invalid fields cannot come back as a megabyte of errors.

Routes declare the errors they answer with `responses=error_responses(...)`, so the OpenAPI schema
documents every status and its body (the fuzz test in tests/api/test_api_fuzz.py holds them to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import logfire
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from signoff.agent.approvals import ApprovalAlreadyDecided, ApprovalNotFound, ApprovalRefused, SelfApprovalRefused
from signoff.agent.framing import TaskInputError
from signoff.agent.runs import ConversationBusy, ConversationNotFound, RunNotFound

__all__ = ["ApiError", "ErrorResponse", "error_body", "error_responses", "install_error_handlers"]


class ApiError(Exception):
    """An error a route raises on purpose, with its HTTP status and code."""

    def __init__(self, status_code: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers
        super().__init__(message)


# Enough field errors to fix a request by hand, or a client's bug, in one round; a request with more
# has one systematic mistake (a wrong field name repeated, a list of wrong items) that these show.
MAX_ERROR_DETAILS = 20
# A message or a `loc` part longer than this echoes the request (a huge dict key, a long run id in a
# path) rather than explains it; the start is enough to recognise what it was.
MAX_ERROR_TEXT_CHARS = 300


def _bounded_text(text: str) -> str:
    if len(text) <= MAX_ERROR_TEXT_CHARS:
        return text
    return f"{text[:MAX_ERROR_TEXT_CHARS]}... ({len(text) - MAX_ERROR_TEXT_CHARS} more characters)"


def _field_details(errors: Sequence[Any]) -> dict[str, Any]:
    """`details` (and `details_omitted`) for pydantic-style errors: loc and msg only, never the input."""
    details = [
        {
            "loc": [part if isinstance(part, int) else _bounded_text(str(part)) for part in error.get("loc", ())],
            "msg": _bounded_text(str(error.get("msg", ""))),
        }
        for error in errors[:MAX_ERROR_DETAILS]
    ]
    omitted = len(errors) - len(details)
    return {"details": details, **({"details_omitted": omitted} if omitted else {})}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error response (the message cut to `MAX_ERROR_TEXT_CHARS`)."""
    return {"error": {"code": code, "message": _bounded_text(message), **extra}}


class ErrorFieldDetail(BaseModel):
    """One invalid field: where it is (`loc`) and what is wrong with it."""

    loc: list[str | int]
    msg: str


class ErrorInfo(BaseModel):
    """A machine-readable `code`, a message for people, and field errors where there are some."""

    code: str
    message: str
    details: list[ErrorFieldDetail] | None = None
    details_omitted: int | None = Field(
        default=None, description="Field errors left out of `details` to keep the body small."
    )


class ErrorResponse(BaseModel):
    """The body of every error response (the OpenAPI schema of `error_body`)."""

    error: ErrorInfo


_ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body cannot be parsed at all (for example, it is not UTF-8).",
    401: "No API key, or an unknown or revoked one.",
    403: "The key lacks the role this needs, or the caller may not decide its own run's approvals.",
    404: "No such resource, or not one this caller may see.",
    409: "The resource is not in a state that allows this (an approval already decided, a conversation busy).",
    413: "The request body is over the size limit.",
    422: "The request is not valid; field errors are in `error.details`.",
    429: (
        "The key is over its rate limit, or this address made too many failed authentications; "
        "retry after `Retry-After` seconds."
    ),
}

_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Whole seconds until a request may succeed.", "schema": {"type": "integer"}}},
}


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the error statuses a route answers, each with the JSON error body."""
    return {
        status_code: {
            "model": ErrorResponse,
            "description": _ERROR_DESCRIPTIONS[status_code],
            **({"headers": _ERROR_HEADERS[status_code]} if status_code in _ERROR_HEADERS else {}),
        }
        for status_code in status_codes
    }


_MAPPED: tuple[tuple[type[Exception], int, str], ...] = (
    (RunNotFound, 404, "run_not_found"),
    (ConversationNotFound, 404, "conversation_not_found"),
    (ApprovalNotFound, 404, "approval_not_found"),
    (ApprovalAlreadyDecided, 409, "approval_already_decided"),
    (ConversationBusy, 409, "conversation_busy"),
    (SelfApprovalRefused, 403, "self_approval_refused"),
    (ApprovalRefused, 422, "approval_refused"),
    (TaskInputError, 422, "invalid_task"),
)


# PostgreSQL refuses some characters a request can carry, NUL above all, in any text it stores or compares
# (SQLSTATE 22021 character_not_in_repertoire, 22P05 untranslatable_character). They come from the request,
# so they are the client's error, not a 500; SQLite stores them as they are.
_UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})


def _internal_error(request: Request) -> JSONResponse:
    logfire.exception("unexpected error on {method} {path}", method=request.method, path=request.url.path)
    return JSONResponse(error_body("internal_error", "something went wrong; it has been logged"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors for our own exceptions, validation failures, HTTP errors and anything unexpected."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error_body(error.code, error.message), status_code=error.status_code, headers=error.headers)

    for exception_type, status_code, code in _MAPPED:

        def handler(
            _request: Request, error: Exception, status_code: int = status_code, code: str = code
        ) -> JSONResponse:
            extra: dict[str, Any] = {}
            if isinstance(error, ApprovalRefused) and error.errors:
                extra = _field_details(list(error.errors))
            return JSONResponse(error_body(code, str(error), **extra), status_code=status_code)

        app.add_exception_handler(exception_type, handler)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        details = _field_details(error.errors())
        return JSONResponse(error_body("invalid_request", "the request is not valid", **details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(f"http_{error.status_code}", str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, error: DBAPIError) -> JSONResponse:
        if getattr(error.orig, "sqlstate", None) in _UNSTORABLE_TEXT_SQLSTATES:
            message = "the request holds characters the database cannot store, such as NUL"
            return JSONResponse(error_body("invalid_request", message), status_code=422)
        return _internal_error(request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        return _internal_error(request)
