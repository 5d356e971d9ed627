"""Model spend from the ledger, for admins: totals by day, model, run or prompt version."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query

from signoff.agent.costs import CostGrouping, CostLine, cost_report
from signoff.api.deps import AdminDep, RuntimeDep
from signoff.api.errors import ApiError, error_responses
from signoff.api.schemas import CostLineView, CostReport

router = APIRouter(prefix="/v1/costs", tags=["costs"], responses=error_responses(401, 403, 422, 429))


def _as_utc(moment: datetime | None, *, name: str) -> datetime | None:
    # A bound without a zone (`2025-06-01`, `2025-06-01T08:00`) means UTC, the zone the ledger keeps.
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. year 1 with a positive offset: before the first representable instant
        raise ApiError(422, "invalid_request", f"`{name}` is out of range") from None


def _total(lines: list[CostLine]) -> CostLine:
    priced = [line.cost_usd for line in lines if line.cost_usd is not None]
    return CostLine(
        group="total",
        requests=sum(line.requests for line in lines),
        input_tokens=sum(line.input_tokens for line in lines),
        output_tokens=sum(line.output_tokens for line in lines),
        cache_read_tokens=sum(line.cache_read_tokens for line in lines),
        cache_write_tokens=sum(line.cache_write_tokens for line in lines),
        cost_usd=sum(priced, start=Decimal(0)) if priced else None,
        unpriced_requests=sum(line.unpriced_requests for line in lines),
        failed_attempts=sum(line.failed_attempts for line in lines),
    )


@router.get("", response_model=CostReport)
async def get_costs(
    principal: AdminDep,
    runtime: RuntimeDep,
    group_by: Annotated[CostGrouping, Query()] = "day",
    since: Annotated[
        datetime | None, Query(alias="from", description="ISO 8601, inclusive; without a zone, UTC.")
    ] = None,
    until: Annotated[
        datetime | None, Query(alias="to", description="ISO 8601, exclusive; without a zone, UTC.")
    ] = None,
) -> CostReport:
    """Ledger totals per group between `from` and `to`, with a grand total.

    Money is a decimal string; a cost is null when no request in it had a known price (never 0).
    Days are UTC days. 422 for an unknown `group_by`, a malformed bound, or `from` after `to`.
    """
    since, until = _as_utc(since, name="from"), _as_utc(until, name="to")
    if since is not None and until is not None and since > until:
        raise ApiError(422, "invalid_request", "`from` must not be after `to`")
    async with runtime.session_factory() as session:
        lines = await cost_report(session, group_by=group_by, since=since, until=until)
    return CostReport.model_validate(
        {
            "group_by": group_by,
            "from": None if since is None else since.isoformat(),
            "to": None if until is None else until.isoformat(),
            "lines": [CostLineView.of(line) for line in lines],
            "total": CostLineView.of(_total(lines)),
        }
    )
