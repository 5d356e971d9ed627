"""The approval inbox: server-rendered pages at /inbox for principals with the approver role.

Pages: sign-in, the pending list (oldest first), one approval with its approve, approve-with-edits and
deny forms, the history of approvals no longer pending, and a run's status and output. Every POST
carries the session's CSRF token (`api.inbox.session`). Decisions go through `ApprovalService` exactly
as the JSON API's do, then the run is resumed in the background.

Errors are pages, not JSON: an unknown approval or run is a 404 page, a missing role or a bad CSRF
token a 403 page, and a refused decision re-renders its form with the reason (403 self-approval,
409 already decided, 422 invalid edit or policy refusal).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from signoff.agent.approvals import (
    ApprovalAlreadyDecided,
    ApprovalError,
    ApprovalNotFound,
    ApprovalRefused,
    SelfApprovalRefused,
)
from signoff.agent.resolutions import OutcomeNotUnknown, ToolCallNotFound
from signoff.agent.store.tables import ApprovalRow
from signoff.api.auth_limit import AuthFailureLimiter, client_address
from signoff.api.deps import BackgroundDep, RuntimeDep
from signoff.api.display import escaped_json, neutralised
from signoff.api.inbox.queries import (
    calls_to_check,
    history_items,
    inbox_item,
    pending_items,
    run_for_approvers,
)
from signoff.api.inbox.rendering import PAGE_HEADERS, render
from signoff.api.inbox.session import (
    Flash,
    InboxSession,
    csrf_matches,
    end_session,
    load_session,
    resolve_session,
    save_session,
    start_session,
)
from signoff.api.keys import Principal, find_key, principal_of
from signoff.api.settings import Settings

__all__ = ["InboxPageError", "router"]

INBOX_PATH = "/inbox"
SIGN_IN_PATH = f"{INBOX_PATH}/sign-in"
# One screen of work; the oldest come first, so nothing waits unseen behind newer items.
PENDING_PAGE_SIZE = 100
# Recent decisions for review; older ones are in the API and the CLI.
HISTORY_PAGE_SIZE = 100
# Runs whose unknown calls are listed for a check above the queue: these wait for a person too.
CHECKS_PAGE_SIZE = 50
# The JSON API's limit on a decision note (api.schemas.ApprovalDecisionRequest).
MAX_NOTE_CHARS = 2000
# A run page refreshes itself while the run works: quickly while it runs, slowly while it waits for people.
REFRESH_SECONDS_RUNNING = 2
REFRESH_SECONDS_AWAITING = 10
_FINISHED_RUN_STATUSES = frozenset({"completed", "failed", "cancelled"})


class InboxPageError(Exception):
    """Ends a request with an error page: a status, a title and a message for a person."""

    def __init__(self, status_code: int, title: str, message: str) -> None:
        self.status_code = status_code
        self.title = title
        self.message = message
        super().__init__(message)


class _SignInRequired(Exception):
    """No (valid) session: send the browser to the sign-in page."""


def _session(request: Request) -> InboxSession:
    return request.state.inbox_session


def _page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> Response:
    """A page with what every page shows: who is signed in, the CSRF token for forms, the flash message."""
    session = _session(request)
    common: dict[str, Any] = {
        "principal_name": session.principal_name,
        "csrf_token": session.csrf_token,
        "flash": session.pop_flash(),
        "active_tab": None,
    }
    return render(request, template, {**common, **context}, status_code=status_code)


def _error_page(request: Request, error: InboxPageError) -> Response:
    return _page(request, "error.html", status_code=error.status_code, title=error.title, message=error.message)


def _redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


class InboxRoute(APIRoute):
    """Loads the session before each inbox route and saves it after; turns page errors into HTML pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def inbox_handler(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            secret = settings.session_secret.get_secret_value()
            session = load_session(request, secret=secret)
            request.state.inbox_session = session
            try:
                await resolve_session(request.app.state.runtime.session_factory, session)
                response = await handler(request)
            except _SignInRequired:
                response = _redirect(SIGN_IN_PATH)
            except InboxPageError as error:
                response = _error_page(request, error)
            except ApprovalNotFound:
                response = _error_page(
                    request, InboxPageError(404, "Approval not found", "There is no approval at this address.")
                )
            response.headers.update(PAGE_HEADERS)
            save_session(response, session, secret=secret, secure=settings.session_cookie_secure)
            return response

        return inbox_handler


router = APIRouter(prefix=INBOX_PATH, tags=["inbox"], route_class=InboxRoute, include_in_schema=False)


async def _approver(request: Request) -> Principal:
    """The signed-in principal, while its session is live (`resolve_session`) and it holds the approver role."""
    session = _session(request)
    principal = session.principal
    if principal is None:
        raise _SignInRequired
    if not principal.has("approver"):
        session.sign_out()
        raise InboxPageError(403, "Approvers only", f"{principal.name!r} does not hold the approver role.")
    return principal


InboxApproverDep = Annotated[Principal, Depends(_approver)]


async def _check_csrf(request: Request, csrf_token: Annotated[str, Form()] = "") -> None:
    if not csrf_matches(_session(request), csrf_token):
        raise InboxPageError(
            403,
            "This form has expired",
            "The form did not carry this session's security token: it may come from an earlier session or "
            "from another site. Nothing was changed. Reload the page and try again.",
        )


_CSRF_CHECKED = [Depends(_check_csrf)]


# --- signing in and out -----------------------------------------------------------------------------


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> Response:
    """The sign-in form."""
    if _session(request).principal_name is not None:
        return _redirect(INBOX_PATH)
    return _page(request, "sign_in.html", error=None)


@router.post("/sign-in", response_class=HTMLResponse, dependencies=_CSRF_CHECKED)
async def sign_in(request: Request, runtime: RuntimeDep, api_key: Annotated[str, Form()] = "") -> Response:
    """Check the key; on success a server-side session bound to the key starts (the cookie holds its token).

    Failed sign-ins count against the client address's budget, shared with the API (`api.auth_limit`)."""
    failures: AuthFailureLimiter = request.app.state.auth_failure_limiter
    client = client_address(request)
    if (retry_after := failures.retry_after(client)) is not None:
        error = f"Too many failed sign-ins from this address. Try again in {retry_after} seconds."
        limited = _page(request, "sign_in.html", status_code=429, error=error)
        limited.headers["Retry-After"] = str(retry_after)
        return limited
    key = await find_key(runtime.session_factory, api_key.strip())
    if key is None:
        failures.record_failure(client)
        return _page(request, "sign_in.html", status_code=401, error="That key is unknown or revoked.")
    principal = principal_of(key)
    if not principal.has("approver"):
        raise InboxPageError(
            403,
            "Approvers only",
            f"The key of {principal.name!r} does not hold the approver role, so it cannot use the inbox. "
            "Ask an admin for an approver key.",
        )
    session = _session(request)
    await start_session(runtime.session_factory, session, key=key)
    session.flash = Flash(text=f"Signed in as {principal.name}.")
    return _redirect(INBOX_PATH)


@router.post("/sign-out", response_class=HTMLResponse, dependencies=_CSRF_CHECKED)
async def sign_out(request: Request, runtime: RuntimeDep) -> Response:
    """End the session on the server: a saved copy of the cookie is signed out too."""
    session = _session(request)
    await end_session(runtime.session_factory, session)
    session.flash = Flash(text="Signed out.")
    return _redirect(SIGN_IN_PATH)


# --- the queue and its history ----------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def pending_page(request: Request, principal: InboxApproverDep, runtime: RuntimeDep) -> Response:
    """Pending approvals, oldest first."""
    items = await pending_items(runtime, limit=PENDING_PAGE_SIZE + 1)
    return _page(
        request,
        "pending.html",
        active_tab="pending",
        items=items[:PENDING_PAGE_SIZE],
        more=len(items) > PENDING_PAGE_SIZE,
        checks=await calls_to_check(runtime, limit=CHECKS_PAGE_SIZE),
    )


@router.get("/history", response_class=HTMLResponse)
async def history_page(request: Request, principal: InboxApproverDep, runtime: RuntimeDep) -> Response:
    """Approvals no longer pending, newest first: who decided, when, and what became of them."""
    items = await history_items(runtime, limit=HISTORY_PAGE_SIZE)
    return _page(request, "history.html", active_tab="history", items=items, limit=HISTORY_PAGE_SIZE)


# --- one approval -----------------------------------------------------------------------------------


async def _detail_page(
    request: Request,
    runtime: RuntimeDep,
    principal: Principal,
    approval_id: str,
    *,
    status_code: int = 200,
    errors: dict[str, list[str]] | None = None,
    field_errors: list[tuple[str, str]] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    item = await inbox_item(runtime, approval_id=approval_id)
    settings: Settings = request.app.state.settings
    own_run = not settings.allow_self_approval and item.run is not None and item.run.requested_by == principal.name
    return _page(
        request,
        "detail.html",
        status_code=status_code,
        item=item,
        own_run=own_run,
        max_note_chars=MAX_NOTE_CHARS,
        errors={"approve": [], "edit": [], "deny": [], **(errors or {})},
        field_errors=field_errors or [],
        values={
            "approve_note": "",
            # Exact JSON (an edit parses back to the same values), every hidden character a visible escape.
            "edit_arguments": escaped_json(json.loads(item.approval.requested_args_json)),
            "edit_note": "",
            "deny_reason": "",
            **(values or {}),
        },
    )


def _refusal_status(error: ApprovalError) -> int:
    if isinstance(error, SelfApprovalRefused):
        return 403
    if isinstance(error, ApprovalAlreadyDecided):
        return 409
    return 422


def _refusal_message(error: ApprovalError) -> str:
    if isinstance(error, SelfApprovalRefused):
        return "You requested this run, so someone else must decide its calls. Nothing was changed."
    if isinstance(error, ApprovalAlreadyDecided):
        return f"This approval is already {error.state}; nothing was changed."
    return str(error)


async def _refused_page(
    request: Request,
    runtime: RuntimeDep,
    principal: Principal,
    approval_id: str,
    *,
    form: str,
    error: ApprovalError,
    values: dict[str, str],
) -> Response:
    """The detail page again, with the service's refusal shown in `form` and its status code."""
    return await _detail_page(
        request,
        runtime,
        principal,
        approval_id,
        status_code=_refusal_status(error),
        errors={form: [_refusal_message(error)]},
        values=values,
    )


def _field_errors(error: ApprovalRefused) -> list[tuple[str, str]]:
    """(where, what) for each schema error, `where` as a dotted path such as `contacts.0.email`."""
    return [
        (".".join(str(part) for part in detail.get("loc", ())) or "(arguments)", str(detail.get("msg", "")))
        for detail in error.errors
    ]


def _decided(request: Request, background: BackgroundDep, row: ApprovalRow, what: str) -> Response:
    """After a decision: resume the run (as the JSON API does) and go back to the queue with a message."""
    background.resume(row.run_id)
    _session(request).flash = Flash(text=f"{what}: {neutralised(row.summary)}", run_id=row.run_id)
    return _redirect(INBOX_PATH)


def _note_too_long(note: str) -> list[str]:
    return [f"The note is {len(note)} characters; the limit is {MAX_NOTE_CHARS}."] if len(note) > MAX_NOTE_CHARS else []


@router.get("/approvals/{approval_id}", response_class=HTMLResponse)
async def approval_page(
    request: Request, approval_id: str, principal: InboxApproverDep, runtime: RuntimeDep
) -> Response:
    """One approval: what it would do, for which run, and the forms to decide it."""
    return await _detail_page(request, runtime, principal, approval_id)


@router.post("/approvals/{approval_id}/approve", response_class=HTMLResponse, dependencies=_CSRF_CHECKED)
async def approve(
    request: Request,
    approval_id: str,
    principal: InboxApproverDep,
    runtime: RuntimeDep,
    background: BackgroundDep,
    note: Annotated[str, Form()] = "",
) -> Response:
    """Approve the call as requested."""
    values = {"approve_note": note}
    if problems := _note_too_long(note):
        return await _detail_page(
            request, runtime, principal, approval_id, status_code=422, errors={"approve": problems}, values=values
        )
    try:
        row = await runtime.approvals.approve(approval_id, decided_by=principal.name, note=note.strip() or None)
    except (ApprovalRefused, SelfApprovalRefused, ApprovalAlreadyDecided) as error:
        return await _refused_page(request, runtime, principal, approval_id, form="approve", error=error, values=values)
    return _decided(request, background, row, "Approved")


@router.post("/approvals/{approval_id}/approve-edited", response_class=HTMLResponse, dependencies=_CSRF_CHECKED)
async def approve_edited(
    request: Request,
    approval_id: str,
    principal: InboxApproverDep,
    runtime: RuntimeDep,
    background: BackgroundDep,
    arguments: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Approve with edited arguments: validated against the tool's schema and checked by policy first."""
    values = {"edit_arguments": arguments, "edit_note": note}

    async def refuse(status_code: int, problems: list[str], fields: list[tuple[str, str]] | None = None) -> Response:
        return await _detail_page(
            request,
            runtime,
            principal,
            approval_id,
            status_code=status_code,
            errors={"edit": problems},
            field_errors=fields,
            values=values,
        )

    if problems := _note_too_long(note):
        return await refuse(422, problems)
    try:
        edited = json.loads(arguments)
    except json.JSONDecodeError as error:
        return await refuse(
            422, [f"The arguments are not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."]
        )
    if not isinstance(edited, dict):
        return await refuse(422, ['The arguments must be a JSON object, like {"name": "value"}.'])
    try:
        row = await runtime.approvals.approve(
            approval_id, decided_by=principal.name, note=note.strip() or None, edited_args=edited
        )
    except ApprovalRefused as error:
        if error.errors:
            return await refuse(422, ["The edited arguments do not fit the tool's schema:"], _field_errors(error))
        return await refuse(422, [_refusal_message(error)])
    except (SelfApprovalRefused, ApprovalAlreadyDecided) as error:
        return await refuse(_refusal_status(error), [_refusal_message(error)])
    return _decided(request, background, row, "Approved with edits")


@router.post("/approvals/{approval_id}/deny", response_class=HTMLResponse, dependencies=_CSRF_CHECKED)
async def deny(
    request: Request,
    approval_id: str,
    principal: InboxApproverDep,
    runtime: RuntimeDep,
    background: BackgroundDep,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Deny the call; the reason reaches the model, so it is required."""
    values = {"deny_reason": reason}
    problems = _note_too_long(reason)
    if not reason.strip():
        problems = ["A denial needs a reason: the model is told why, so it can adjust its plan."]
    if problems:
        return await _detail_page(
            request, runtime, principal, approval_id, status_code=422, errors={"deny": problems}, values=values
        )
    try:
        row = await runtime.approvals.deny(approval_id, decided_by=principal.name, reason=reason)
    except (ApprovalRefused, SelfApprovalRefused, ApprovalAlreadyDecided) as error:
        return await _refused_page(request, runtime, principal, approval_id, form="deny", error=error, values=values)
    return _decided(request, background, row, "Denied")


# --- runs -------------------------------------------------------------------------------------------


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: str, principal: InboxApproverDep, runtime: RuntimeDep) -> Response:
    """A run that asked for approval: its status, its calls and decisions, and its final output."""
    run = await run_for_approvers(runtime, run_id=run_id)
    if run is None:
        raise InboxPageError(404, "Run not found", "There is no run at this address that asked for an approval.")
    refresh_seconds = None
    if run["status"] not in _FINISHED_RUN_STATUSES:
        waits_for_people = any(approval["state"] == "pending" for approval in run["approvals"])
        refresh_seconds = REFRESH_SECONDS_AWAITING if waits_for_people else REFRESH_SECONDS_RUNNING
    return _page(request, "run.html", run=run, refresh_seconds=refresh_seconds, max_note_chars=MAX_NOTE_CHARS)


@router.post(
    "/runs/{run_id}/tool-calls/{tool_call_id}/resolution", response_class=HTMLResponse, dependencies=_CSRF_CHECKED
)
async def resolve_call(
    request: Request,
    run_id: str,
    tool_call_id: str,
    principal: InboxApproverDep,
    runtime: RuntimeDep,
    happened: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Record what the approver found in the outside system about a call whose outcome is unknown."""
    if happened not in ("yes", "no"):
        raise InboxPageError(
            422, "Say what you found", "Choose whether the call happened or not. Nothing was recorded."
        )
    if problems := _note_too_long(note):
        raise InboxPageError(422, "The note is too long", f"{problems[0]} Nothing was recorded.")
    if await run_for_approvers(runtime, run_id=run_id) is None:
        raise InboxPageError(404, "Run not found", "There is no run at this address that asked for an approval.")
    try:
        resolution = await runtime.resolve_unknown_call(
            run_id=run_id, tool_call_id=tool_call_id, happened=happened == "yes", resolved_by=principal.name, note=note
        )
    except ToolCallNotFound:
        raise InboxPageError(404, "Call not found", "This run has no such tool call. Nothing was recorded.") from None
    except OutcomeNotUnknown as error:
        raise InboxPageError(
            409, "Nothing to check", f"This call's outcome is known ({error.status}). Nothing was recorded."
        ) from None
    found = "it happened" if resolution.happened else "it did not happen"
    _session(request).flash = Flash(text=f"Recorded for {resolution.tool_call_id}: {found}.")
    return _redirect(f"{INBOX_PATH}/runs/{run_id}")
