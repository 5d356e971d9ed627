"""Prometheus metrics, without authentication (scrapers rarely carry keys; keep the port internal)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy.exc import SQLAlchemyError

from signoff.api.deps import BackgroundDep, RuntimeDep
from signoff.api.errors import ApiError, ErrorResponse
from signoff.api.metrics import read_metrics_snapshot, render_metrics

router = APIRouter(tags=["operations"])

# The classic text format (what `generate_latest` writes), which every Prometheus version reads; names
# and labels here are plain ASCII, so nothing needs the newer format's UTF-8 names.
METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text exposition format.", "content": {METRICS_CONTENT_TYPE: {}}},
        503: {"model": ErrorResponse, "description": "The database does not answer."},
    },
)
async def metrics(runtime: RuntimeDep, background: BackgroundDep) -> Response:
    """Runs by status, approvals by state, decisions by rule and verdict, model tokens and cost, provider
    spend, and the runs this process is driving: read from the database at scrape time, the same on every
    replica. Plus this process's view of the outside services (breaker states, rate-limit queue depths).
    503 when the database does not answer (the scrape then counts as failed)."""
    services = await runtime.service_health()
    try:
        async with runtime.session_factory() as session:
            snapshot = await read_metrics_snapshot(session, runs_in_flight=background.in_flight, services=services)
    except (SQLAlchemyError, OSError) as error:
        raise ApiError(503, "database_unavailable", f"metrics need the database: {type(error).__name__}") from error
    return Response(render_metrics(snapshot), media_type=METRICS_CONTENT_TYPE)
