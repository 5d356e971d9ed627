"""Reading runs: status, conversation, tool calls with decisions, pending approvals, cost so far."""

from __future__ import annotations

from fastapi import APIRouter

from signoff.agent.runs import RunNotFound
from signoff.agent.store import runs as run_store
from signoff.agent.store.tables import RunRow
from signoff.api.approval_views import run_detail
from signoff.api.deps import PrincipalDep, RuntimeDep
from signoff.api.errors import error_responses
from signoff.api.keys import Principal
from signoff.api.schemas import ApprovalView, RunDetail

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
