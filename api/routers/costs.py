"""Model and provider spend from the ledger, for admins: totals by day, model, run, prompt or provider."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import PlainValidator, WithJsonSchema

from signoff.agent.costs import CostGrouping, CostLine, cost_report
from signoff.api.deps import AdminDep, RuntimeDep
from signoff.api.errors import error_responses
from signoff.api.schemas import CostLineView, CostReport

router = APIRouter(prefix="/v1/costs", tags=["costs"], responses=error_responses(401, 403, 422, 429))


# RFC 3339 `full-date` and `date-time` (OpenAPI's `format: date` and `format: date-time`), and nothing else:
# no epoch numbers (`to=0.5` was read as half a second after 1970), no time without a zone.
_FULL_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_FIRST_INSTANT = datetime.min.replace(tzinfo=UTC)
_LAST_INSTANT = datetime.max.replace(tzinfo=UTC)


def _utc_instant(local: datetime, offset: timedelta) -> datetime:
    """`local` at `offset` from UTC, in UTC; an instant beyond what datetime holds is its first or last one
    (no ledger row lies there, so a bound moved to it selects the same rows)."""
    try:
        return (local - offset).replace(tzinfo=UTC)
    except OverflowError:
        return _FIRST_INSTANT if offset > timedelta(0) else _LAST_INSTANT


def parse_time_bound(value: object) -> datetime:
    """A `from` or `to` bound in UTC: an RFC 3339 date-time with its zone, or a date (midnight UTC)."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time or date")
    if match := _FULL_DATE.fullmatch(value):
        year, month, day = (int(part) for part in match.groups())
        if year == 0:  # RFC 3339 has a year 0, datetime has none: checked in year 4 (a leap year too)
            date(4, month, day)
            return _FIRST_INSTANT
        return datetime(year, month, day, tzinfo=UTC)
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        raise ValueError(
            "must be an RFC 3339 date-time with a zone (2025-06-01T08:00:00Z, 2025-06-01T10:00:00+02:00) "
            "or a date (2025-06-01)"
        )
    year, month, day, hour, minute, second, fraction, zulu, sign, offset_hours, offset_minutes = match.groups()
    if int(offset_hours or 0) > 23 or int(offset_minutes or 0) > 59:
        raise ValueError("has a zone offset beyond ±23:59")
    # A leap second (23:59:60) is the instant after :59.
    leap = timedelta(seconds=1) if second == "60" else timedelta(0)
    local = datetime(
        int(year) or 4,
        int(month),
        int(day),
        int(hour),
        int(minute),
        59 if leap else int(second),
        int((fraction or "0")[:6].ljust(6, "0")),
    )
    if int(year) == 0:
        return _FIRST_INSTANT
    offset = timedelta(0) if zulu else timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
    if sign == "-":
        offset = -offset
    instant = _utc_instant(local, offset)
    return instant + leap if instant < _LAST_INSTANT - leap else _LAST_INSTANT


TimeBound = Annotated[
    datetime,
    PlainValidator(parse_time_bound),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}),
]


@router.get("", response_model=CostReport)
async def get_costs(
    principal: AdminDep,
    runtime: RuntimeDep,
    group_by: Annotated[CostGrouping, Query()] = "day",
    since: Annotated[
        TimeBound | None,
        Query(alias="from", description="Inclusive: an RFC 3339 date-time with its zone, or a date (midnight UTC)."),
    ] = None,
    until: Annotated[
        TimeBound | None,
        Query(alias="to", description="Exclusive: an RFC 3339 date-time with its zone, or a date (midnight UTC)."),
    ] = None,
) -> CostReport:
    """Ledger totals per group between `from` and `to`, with a grand total: model spend (`cost_usd`),
    provider spend (`provider_cost_usd`) and both (`total_cost_usd`).

    Money is a decimal string; a cost is null when no request in it had a known price (never 0).
    Days are UTC days. `from` at or after `to` is an empty range (no lines, a zero total). 422 for an
    unknown `group_by` or a bound that is not an RFC 3339 date-time or date.
    """
    async with runtime.session_factory() as session:
        lines = await cost_report(session, group_by=group_by, since=since, until=until)
    return CostReport.model_validate(
        {
            "group_by": group_by,
            "from": None if since is None else since.isoformat(),
            "to": None if until is None else until.isoformat(),
            "lines": [CostLineView.of(line) for line in lines],
            "total": CostLineView.of(CostLine.total_of(lines)),
        }
    )
