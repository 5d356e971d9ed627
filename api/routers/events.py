"""A run's events as server-sent events, resumable with `Last-Event-ID`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from signoff.agent.store.engine import read_session_factory
from signoff.api.deps import PrincipalDep, RuntimeDep
from signoff.api.errors import error_responses
from signoff.api.event_hub import RunEventHub
from signoff.api.event_stream import StreamTiming, run_event_stream, stream_is_over
from signoff.api.routers.runs import readable_run

router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=error_responses(401, 404, 422, 429))

# Event ids are 64-bit integers in the database; a larger number could not even be compared there.
MAX_EVENT_ID = 2**63 - 1

_EVENT_KINDS = (
    "run_started, run_resumed, model_text, tool_call, decision, approval_requested, approval_decided, "
    "tool_result, awaiting_approval, completed, failed"
)


@router.get(
    "/{run_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": f"A `text/event-stream` of the run's events ({_EVENT_KINDS}): `id` is the event id, "
            "`event` its kind, `data` a JSON object with `event_id`, `run_id`, `kind`, `created_at`, `payload`.",
            "content": {"text/event-stream": {}},
        },
        204: {"description": "The run is over and every event after the given id was sent: nothing to stream."},
    },
)
async def stream_run_events(
    run_id: str,
    request: Request,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    after: Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID, description="Send only events with a larger id.")] = None,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=MAX_EVENT_ID)] = None,
) -> Response:
    """The run's events as they are recorded, from the start or after an event id.

    `Last-Event-ID` (sent by an `EventSource` when it reconnects) wins over `?after=`, because a
    reconnecting client repeats its first URL. The stream ends after the last event of a finished run;
    a run awaiting approval keeps it open. A request for a finished run with nothing left gets 204,
    which tells an `EventSource` to stop reconnecting. Same visibility as `GET /v1/runs/{run_id}`.
    """
    await readable_run(runtime, principal, run_id)
    after_event_id = last_event_id if last_event_id is not None else (after or 0)
    # Streams only read: their sessions take no write lock (see `read_session_factory`).
    sessions = read_session_factory(runtime.session_factory)
    if await stream_is_over(sessions, run_id=run_id, after_event_id=after_event_id):
        return Response(status_code=204)
    hub: RunEventHub = request.app.state.event_hub

    async def frames() -> AsyncIterator[str]:
        async with hub.subscription(run_id) as waiter:
            async for frame in run_event_stream(
                sessions,
                run_id=run_id,
                after_event_id=after_event_id,
                is_disconnected=request.is_disconnected,
                should_read=waiter.should_read,
                timing=StreamTiming(max_stream_seconds=request.app.state.settings.event_stream_max_seconds),
            ):
                yield frame

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        # No caching anywhere, and no buffering in proxies such as nginx (which would hold events back).
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
