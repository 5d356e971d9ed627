"""The approval queue over HTTP: list pending calls, and approve, edit or deny them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from signoff.agent.store import approvals as approval_store
from signoff.agent.store.tables import APPROVAL_STATES, ApprovalState
from signoff.api.approval_views import approval_views
from signoff.api.deps import ApproverDep, BackgroundDep, RuntimeDep
from signoff.api.errors import ApiError, error_responses
from signoff.api.schemas import ApprovalDecisionRequest, ApprovalPage, ApprovalView, ApproveDecision

router = APIRouter(prefix="/v1/approvals", tags=["approvals"], responses=error_responses(401, 403, 422, 429))

# A page of the queue: enough for a person's screen, small enough to stay fast.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


# A cursor names a position in the queue: the last item's creation time in microseconds since 1970 (UTC),
# `_`, and its approval id. Every string of this form is a position (17 digits stay below year 5000), so
# the schema can say exactly which cursors are valid, and the server takes every one it allows.
CURSOR_PATTERN = r"^[0-9]{1,17}_[0-9A-Za-z_.:-]{0,64}$"
_CURSOR = re.compile(CURSOR_PATTERN.removeprefix("^").removesuffix("$"))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _encode_cursor(created_at: datetime, approval_id: str) -> str:
    moment = created_at if created_at.tzinfo is not None else created_at.replace(tzinfo=UTC)
    return f"{(moment - _EPOCH) // _MICROSECOND}_{approval_id}"


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names (creation time in aware UTC, approval id); 422 for any other string."""
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise ApiError(422, "invalid_cursor", "the cursor is not one this API gave out")
    microseconds, _, approval_id = cursor.partition("_")
    return _EPOCH + int(microseconds) * _MICROSECOND, approval_id


@router.get("", response_model=ApprovalPage)
async def list_approvals(
    principal: ApproverDep,
    runtime: RuntimeDep,
    status: Annotated[ApprovalState, Query()] = "pending",
    tool: Annotated[str | None, Query(max_length=200)] = None,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[
        str | None,
        # The pattern is documented and checked by `_decode_cursor`, so a bad cursor is `invalid_cursor`.
        Query(
            json_schema_extra={"pattern": CURSOR_PATTERN},
            description="`next_cursor` of the previous page: `<microseconds since 1970 UTC>_<approval_id>`.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> ApprovalPage:
    """Approvals in one state, oldest first, `limit` at a time."""
    after = None if cursor is None else _decode_cursor(cursor)
    async with runtime.session_factory.begin() as session:
        await approval_store.expire_due(session, now=runtime.runner.clock())
    async with runtime.session_factory() as session:
        rows = await approval_store.list_approvals(
            session, states=[status], tool_name=tool, run_id=run_id, limit=limit + 1, after=after
        )
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1].created_at, page[-1].approval_id) if len(rows) > limit else None
    return ApprovalPage(items=await approval_views(runtime, page), next_cursor=next_cursor)


@router.get("/{approval_id}", response_model=ApprovalView, responses=error_responses(404))
async def get_approval(approval_id: str, principal: ApproverDep, runtime: RuntimeDep) -> ApprovalView:
    """One approval, with its warnings and the forms of its domains."""
    [view] = await approval_views(runtime, [await runtime.approvals.get(approval_id)])
    return view


@router.post("/{approval_id}/decision", response_model=ApprovalView, responses=error_responses(400, 404, 409, 413))
async def decide(
    approval_id: str,
    body: ApprovalDecisionRequest,
    principal: ApproverDep,
    runtime: RuntimeDep,
    background: BackgroundDep,
) -> ApprovalView:
    """Approve (optionally with edited arguments) or deny. The run resumes once nothing of it is pending.

    409 when the approval is already decided or expired; 422 when edited arguments fail validation or
    policy, or the body does not fit the schema (a denial without a note, edited arguments on a denial);
    403 when the caller requested the run itself.
    """
    if isinstance(body, ApproveDecision):
        row = await runtime.approvals.approve(
            approval_id, decided_by=principal.name, note=body.note, edited_args=body.edited_args
        )
    else:
        row = await runtime.approvals.deny(approval_id, decided_by=principal.name, reason=body.note)
    background.resume(row.run_id)
    [view] = await approval_views(runtime, [row])
    return view


__all__ = ["APPROVAL_STATES", "CURSOR_PATTERN", "router"]
