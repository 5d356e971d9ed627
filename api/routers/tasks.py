"""Tasks and follow-up messages: accepted at once (202), run in the background."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from signoff.agent.runs import ConversationNotFound
from signoff.agent.store import runs as run_store
from signoff.agent.store.tables import RunRow
from signoff.api.deps import BackgroundDep, RequesterDep, RuntimeDep
from signoff.api.errors import error_responses
from signoff.api.schemas import MessageRequest, RunAccepted, TaskRequest

router = APIRouter(prefix="/v1", tags=["tasks"], responses=error_responses(400, 401, 403, 404, 409, 413, 422, 429))

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]

_REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"model": RunAccepted, "description": "The run this principal already started with this Idempotency-Key."}
}


def _accepted(run: RunRow, *, created: bool) -> RunAccepted:
    return RunAccepted(
        run_id=run.run_id,
        conversation_id=run.conversation_id,
        status=run.status,
        created=created,
        links={"run": f"/v1/runs/{run.run_id}", "events": f"/v1/runs/{run.run_id}/events"},
    )


@router.post("/tasks", status_code=202, response_model=RunAccepted, responses=_REPLAYED)
async def create_task(
    body: TaskRequest,
    principal: RequesterDep,
    runtime: RuntimeDep,
    background: BackgroundDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    """Start a run for a task. The same `Idempotency-Key` from the same principal returns the same run."""
    if body.conversation_id is not None:
        await _own_conversation(runtime, body.conversation_id, principal.name)
    return await _start_run(
        runtime,
        background,
        response,
        principal_name=principal.name,
        message=body.message,
        context=body.context,
        conversation_id=body.conversation_id,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/conversations/{conversation_id}/messages", status_code=202, response_model=RunAccepted, responses=_REPLAYED
)
async def continue_conversation(
    conversation_id: str,
    body: MessageRequest,
    principal: RequesterDep,
    runtime: RuntimeDep,
    background: BackgroundDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    """A follow-up message: a new run that continues the conversation's history."""
    await _own_conversation(runtime, conversation_id, principal.name)
    return await _start_run(
        runtime,
        background,
        response,
        principal_name=principal.name,
        message=body.message,
        context=body.context,
        conversation_id=conversation_id,
        idempotency_key=idempotency_key,
    )


async def _start_run(
    runtime: RuntimeDep,
    background: BackgroundDep,
    response: Response,
    *,
    principal_name: str,
    message: str,
    context: dict[str, Any] | None,
    conversation_id: str | None,
    idempotency_key: str | None,
) -> RunAccepted:
    """Create the run (or find the one this idempotency key made) and drive a new one in the background."""
    run, created = await runtime.runner.create_run(
        message,
        context=context,
        requested_by=principal_name,
        conversation_id=conversation_id,
        idempotency_key=idempotency_key,
    )
    if created:
        background.drive_new(run.run_id)
    else:
        response.status_code = 200
    response.headers["Location"] = f"/v1/runs/{run.run_id}"
    return _accepted(run, created=created)


async def _own_conversation(runtime: RuntimeDep, conversation_id: str, principal_name: str) -> None:
    """Only the principal who started a conversation may continue it (others get 404: no existence leak)."""
    async with runtime.session_factory() as session:
        owner = await run_store.conversation_owner(session, conversation_id=conversation_id)
    if owner != principal_name:
        raise ConversationNotFound(conversation_id)
