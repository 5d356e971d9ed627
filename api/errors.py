"""Every error is JSON: `{"error": {"code": ..., "message": ...}}`, and no input gets a 500.

Errors raised by the core map to statuses here, in one place, so routes stay free of try/except:

- unknown run, approval or conversation: 404;
- an approval already decided or expired, a conversation still busy: 409;
- invalid task text, context, edited arguments or a policy refusal of an edit: 422;
- self-approval: 403.
"""

from __future__ import annotations

from typing import Any

import logfire
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.approvals import ApprovalAlreadyDecided, ApprovalNotFound, ApprovalRefused, SelfApprovalRefused
from agent.framing import TaskInputError
from agent.runner import ConversationBusy, ConversationNotFound, RunNotFound

__all__ = ["ApiError", "error_body", "install_error_handlers"]


class ApiError(Exception):
    """An error a route raises on purpose, with its HTTP status and code."""

    def __init__(self, status_code: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers
        super().__init__(message)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message, **extra}}


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
                extra["details"] = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in error.errors]
            return JSONResponse(error_body(code, str(error), **extra), status_code=status_code)

        app.add_exception_handler(exception_type, handler)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in error.errors()]
        return JSONResponse(error_body("invalid_request", "the request is not valid", details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(f"http_{error.status_code}", str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        logfire.exception("unexpected error on {method} {path}", method=request.method, path=request.url.path)
        return JSONResponse(error_body("internal_error", "something went wrong; it has been logged"), status_code=500)
