"""Reading runs: status, conversation, tool calls with decisions, pending approvals, cost so far; and
recording what a person found about a call whose outcome is unknown."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from signoff.agent.attention import attention_of_runs, attention_payload, run_statuses
from signoff.agent.resolutions import OutcomeNotUnknown, ToolCallNotFound
from signoff.agent.runs import RunNotFound
from signoff.agent.store import runs as run_store
from signoff.agent.store.tables import RunRow
from signoff.api.approval_views import run_detail
from signoff.api.deps import PrincipalDep, RuntimeDep, require_role
from signoff.api.errors import ApiError, error_responses
from signoff.api.keys import Principal
from signoff.api.schemas import (
    ApprovalView,
    AttentionView,
    ResolutionRequest,
    ResolutionResult,
    ResolutionView,
    RunDetail,
)
from signoff.api.views import resolution_view

# Another principal's run is a 404, never a 403: its existence is not acknowledged.
router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=error_responses(401, 404, 422, 429))


def can_read_run(principal: Principal, run: RunRow) -> bool:
    """Requesters read their own runs; admins read all."""
    return principal.has("admin") or (principal.has("requester") and run.requested_by == principal.name)


async def readable_run(runtime: RuntimeDep, principal: Principal, run_id: str) -> RunRow:
    """The run, if this principal may read it; 404 otherwise (another's run is not acknowledged)."""
    async with runtime.session_factory() as session:
        run = await run_store.get_run(session, run_id=run_id)
    if run is None or not can_read_run(principal, run):
        raise RunNotFound(run_id)
    return run


@router.get("/{run_id}", response_model=RunDetail)
async def get_run(run_id: str, principal: PrincipalDep, runtime: RuntimeDep) -> RunDetail:
    """One run in full."""
    run = await readable_run(runtime, principal, run_id)
    detail = await run_detail(runtime, run)
    return RunDetail(
        **{key: detail[key] for key in RunDetail.model_fields if key in detail},
        pending_approvals=[ApprovalView(**a) for a in detail["approvals"] if a["state"] == "pending"],
        model_requests=sum(1 for row in detail["ledger"] if row["attempt_status"] != "failed"),
    )


# Whoever may sign off side effects may say what became of one: approvers, and admins.
_ResolverDep = Annotated[Principal, Depends(require_role("approver", "admin"))]


@router.post(
    "/{run_id}/tool-calls/{tool_call_id}/resolution",
    response_model=ResolutionResult,
    responses=error_responses(400, 403, 409, 413),
)
async def resolve_tool_call(
    run_id: str, tool_call_id: str, body: ResolutionRequest, principal: _ResolverDep, runtime: RuntimeDep
) -> ResolutionResult:
    """Record what you found in the outside system about a call whose outcome is unknown: whether it
    `happened`, with an optional note. Kept with your name and the time; the call stays `unknown` in the
    audit, and its run stops asking for it to be checked. A later finding on the same call replaces it.

    404 when the run has no such call; 409 when the call's outcome is known (nothing to resolve).
    """
    try:
        resolution = await runtime.resolve_unknown_call(
            run_id=run_id, tool_call_id=tool_call_id, happened=body.happened, resolved_by=principal.name, note=body.note
        )
    except ToolCallNotFound as error:
        raise ApiError(404, "tool_call_not_found", str(error)) from None
    except OutcomeNotUnknown as error:
        raise ApiError(409, "outcome_not_unknown", str(error)) from None
    async with runtime.session_factory() as session:
        run = await run_store.get_run(session, run_id=run_id)
        assert run is not None  # the call exists, so does its run (calls go with their run)
        attention = (await attention_of_runs(session, statuses=run_statuses([run]), registry=runtime.registry))[run_id]
    view = resolution_view(resolution)
    assert view is not None
    return ResolutionResult(
        run_id=run_id,
        tool_call_id=tool_call_id,
        resolution=ResolutionView(**view),
        attention=[AttentionView(**item) for item in attention_payload(attention)],
    )
