"""The approval queue over HTTP: list pending calls, and approve, edit or deny them."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from signoff.agent.store import approvals as approval_store
from signoff.agent.store.tables import APPROVAL_STATES, ApprovalState
from signoff.api.approval_views import approval_views
from signoff.api.deps import ApproverDep, BackgroundDep, RuntimeDep
from signoff.api.errors import ApiError, error_responses
from signoff.api.schemas import ApprovalDecisionRequest, ApprovalPage, ApprovalView

router = APIRouter(prefix="/v1/approvals", tags=["approvals"], responses=error_responses(401, 403, 422, 429))

# A page of the queue: enough for a person's screen, small enough to stay fast.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def _encode_cursor(created_at: datetime, approval_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), approval_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position an `_encode_cursor` cursor names. A cursor is client input: anything else is a 422,
    including a time without a zone or one that cannot be moved to UTC (the store takes aware UTC times)."""
    invalid = ApiError(422, "invalid_cursor", "the cursor is not one this API gave out")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(part, str) for part in decoded)):
            raise invalid
        created_at = datetime.fromisoformat(decoded[0])
        if created_at.tzinfo is None:
            raise invalid
        return created_at.astimezone(UTC), decoded[1]
    except (ValueError, OverflowError, binascii.Error) as error:
        raise invalid from error


@router.get("", response_model=ApprovalPage)
async def list_approvals(
    principal: ApproverDep,
    runtime: RuntimeDep,
    status: Annotated[ApprovalState, Query()] = "pending",
    tool: Annotated[str | None, Query(max_length=200)] = None,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> ApprovalPage:
    """Approvals in one state, oldest first, `limit` at a time."""
    after = _decode_cursor(cursor) if cursor else None
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
    policy, or a denial has no note; 403 when the caller requested the run itself.
    """
    if body.decision == "approve":
        row = await runtime.approvals.approve(
            approval_id, decided_by=principal.name, note=body.note, edited_args=body.edited_args
        )
    else:
        if body.edited_args is not None:
            raise ApiError(422, "invalid_request", "edited_args only go with an approval")
        row = await runtime.approvals.deny(approval_id, decided_by=principal.name, reason=body.note or "")
    background.resume(row.run_id)
    [view] = await approval_views(runtime, [row])
    return view


__all__ = ["APPROVAL_STATES", "router"]
