"""Every run keeps an ordered, durable feed of what happened (the source of the API's event stream)."""

from __future__ import annotations

import json

from inline_snapshot import snapshot

from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.events import events_after
from tests.agent.helpers import contacts
from tests.conftest import RuntimeFactory
from tests.support.scripted import ScriptedModel, call, text


async def test_events_follow_the_run_through_a_pause_and_a_decision(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    model = ScriptedModel(
        [
            [
                call("get_contact", {"email": "person0@acme.example"}, "read-1"),
                call("sync_contacts_to_crm", {"contacts": contacts(1)}, "write-1"),
            ],
            [text("Synced one contact.")],
        ]
    )
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("look up and add a contact")
    await runtime.approvals.approve(outcome.pending_approval_ids[0], decided_by="ann", note="fine")
    await runtime.runner.resume(outcome.run_id)

    async with session_factory() as session:
        events = await events_after(session, run_id=outcome.run_id)
    ids = [e.event_id for e in events]
    assert ids == sorted(ids)
    kinds = [e.kind for e in events]
    # Calls of one step are decided concurrently: compare the step's events as a set.
    assert kinds[0] == "run_started"
    first_step = ["tool_call", "decision", "tool_result", "tool_call", "decision", "approval_requested"]
    assert sorted(kinds[1:7]) == sorted(first_step)
    assert kinds[7:] == snapshot(
        [
            "awaiting_approval",
            "approval_decided",
            "run_resumed",
            "tool_result",
            "model_text",
            "completed",
        ]
    )
    decided = json.loads(next(e.payload_json for e in events if e.kind == "approval_decided"))
    assert decided["decided_by"] == "ann" and decided["decision"] == "approved"
    assert json.loads(events[-1].payload_json) == {"output": "Synced one contact.", "attention": []}
    # Resuming from an event id gives only what came after it.
    async with session_factory() as session:
        later = await events_after(session, run_id=outcome.run_id, after_event_id=ids[-3])
    assert [e.kind for e in later] == ["model_text", "completed"]


async def test_an_idempotency_key_returns_the_same_run(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(ScriptedModel([[text("hi")]]).model)
    first, created = await runtime.runner.create_run("say hi", requested_by="ann", idempotency_key="k-1")
    again, created_again = await runtime.runner.create_run("say hi", requested_by="ann", idempotency_key="k-1")
    other, created_other = await runtime.runner.create_run("say hi", requested_by="bob", idempotency_key="k-1")
    assert (created, created_again, created_other) == (True, False, True)
    assert again.run_id == first.run_id
    assert other.run_id != first.run_id
