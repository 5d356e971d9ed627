"""The approval lifecycle end to end: policy decisions, pauses, human decisions, resumes, exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from inline_snapshot import snapshot
from pydantic_ai.messages import ModelMessage, ModelResponse

from signoff.agent.approvals import ApprovalAlreadyDecided, ApprovalRefused
from signoff.agent.runtime import build_runtime
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store.engine import SessionFactory, create_engine, create_session_factory
from signoff.tools.sales import offline_providers, sales_pack
from tests.agent.helpers import contacts, crm_contact_count
from tests.conftest import RuntimeFactory
from tests.support.clock import FakeClock
from tests.support.providers import CountingCrm
from tests.support.scripted import ScriptedModel, call, text, tool_returns


def _split_after_denial(messages: list[ModelMessage]) -> ModelResponse:
    """The model reads the denial of 12 and asks again with 8."""
    denial = tool_returns(messages)["sync-12"]
    assert denial.outcome == "failed"
    assert "at most 10" in denial.model_response_str()
    return ModelResponse(parts=[call("sync_contacts_to_crm", {"contacts": contacts(8)}, "sync-8")])


def _counting_providers(session_factory: SessionFactory, clock: FakeClock):
    providers = offline_providers(session_factory, clock=clock)
    crm = CountingCrm(providers.crm)
    return providers.__class__(
        lead_source=providers.lead_source, enricher=providers.enricher, crm=crm, outreach=providers.outreach
    ), crm


async def test_batch_denied_then_approved_runs_exactly_once(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    providers, crm = _counting_providers(session_factory, clock)
    model = ScriptedModel(
        [
            [call("sync_contacts_to_crm", {"contacts": contacts(12)}, "sync-12")],
            _split_after_denial,
            [text("Synced 8 contacts.")],
        ]
    )
    runtime = make_runtime(model.model, providers=providers)

    outcome = await runtime.runner.start("add these contacts to the CRM")
    assert outcome.status == "awaiting_approval"
    assert len(outcome.pending_approval_ids) == 1
    approval_id = outcome.pending_approval_ids[0]
    pending = await runtime.approvals.get(approval_id)
    assert pending.summary.startswith("Create or update 8 contacts in the CRM: person0@acme.example")
    assert await crm_contact_count(session_factory) == 0

    await runtime.approvals.approve(approval_id, decided_by="alice")
    with pytest.raises(ApprovalAlreadyDecided):
        await runtime.approvals.approve(approval_id, decided_by="alice")

    # Two resumers at once, one with a runner of its own: the call still executes once.
    other = make_runtime(model.model, providers=providers)
    first, second = await asyncio.gather(runtime.runner.resume(outcome.run_id), other.runner.resume(outcome.run_id))
    statuses = sorted([first.status, second.status])
    assert "completed" in statuses
    final = await runtime.runner.resume(outcome.run_id)

    assert final.status == "completed"
    assert final.output == "Synced 8 contacts."
    assert await crm_contact_count(session_factory) == 8
    assert len(crm.upsert_calls) == 1
    async with session_factory() as session:
        approval = await approval_store.get_approval(session, approval_id=approval_id)
        calls = await audit_store.list_tool_calls(session, run_id=outcome.run_id)
    assert approval is not None and approval.state == "executed"
    assert [(c.tool_call_id, c.verdict, c.rule, c.status) for c in calls] == snapshot(
        [
            ("sync-12", "deny", "batch_limit", "denied"),
            ("sync-8", "require_approval", "tool_metadata_approval", "succeeded"),
        ]
    )


async def test_denial_reaches_the_model_and_nothing_happens(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    seen_denial: list[str] = []

    def after_denial(messages: list[ModelMessage]) -> ModelResponse:
        part = tool_returns(messages)["sync-3"]
        seen_denial.append(part.model_response_str())
        return ModelResponse(parts=[text("The sync was denied, so nothing was added.")])

    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(3)}, "sync-3")], after_denial])
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("add three contacts")
    await runtime.approvals.deny(outcome.pending_approval_ids[0], decided_by="bob", reason="wrong list")
    final = await runtime.runner.resume(outcome.run_id)

    assert final.status == "completed"
    assert seen_denial == [
        "A person (bob) denied this call: wrong list. It was not executed. Do not retry it; tell the user."
    ]
    assert await crm_contact_count(session_factory) == 0
    async with session_factory() as session:
        calls = await audit_store.list_tool_calls(session, run_id=outcome.run_id)
    assert [c.status for c in calls] == ["not_executed"]


async def test_deny_needs_a_reason(make_runtime: RuntimeFactory) -> None:
    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(1)}, "c1")], [text("ok")]])
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("add one contact")
    with pytest.raises(ApprovalRefused, match="needs a reason"):
        await runtime.approvals.deny(outcome.pending_approval_ids[0], decided_by="bob", reason="  ")
    assert (await runtime.approvals.get(outcome.pending_approval_ids[0])).state == "pending"


async def test_edit_over_the_batch_limit_is_refused_and_nothing_runs(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(4)}, "sync-4")], [text("done")]])
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("add four contacts")
    approval_id = outcome.pending_approval_ids[0]

    with pytest.raises(ApprovalRefused, match="batch_limit"):
        await runtime.approvals.approve(approval_id, decided_by="carol", edited_args={"contacts": contacts(11)})
    with pytest.raises(ApprovalRefused, match="invalid") as invalid:
        await runtime.approvals.approve(
            approval_id, decided_by="carol", edited_args={"contacts": [{"email": "not-an-address"}]}
        )
    assert {".".join(map(str, e["loc"])) for e in invalid.value.errors} >= {"contacts.0.email"}

    row = await runtime.approvals.get(approval_id)
    assert row.state == "pending"
    assert row.approved_args_json is None
    assert await crm_contact_count(session_factory) == 0


async def test_edited_approval_executes_the_edited_arguments(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(4)}, "sync-4")], [text("done")]])
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("add four contacts")
    approval_id = outcome.pending_approval_ids[0]

    await runtime.approvals.approve(approval_id, decided_by="carol", edited_args={"contacts": contacts(2, start=50)})
    final = await runtime.runner.resume(outcome.run_id)

    assert final.status == "completed"
    assert await crm_contact_count(session_factory) == 2
    async with session_factory() as session:
        approval = await approval_store.get_approval(session, approval_id=approval_id)
    assert approval is not None and approval.state == "executed" and approval.decided_by == "carol"
    assert approval.approved_args_json is not None and "person50@acme.example" in approval.approved_args_json
    assert approval.summary.startswith("Create or update 2 contacts in the CRM: person50@acme.example")


async def test_mixed_step_read_runs_write_waits_model_sees_both(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    seen: list[dict[str, str]] = []

    def after_both(messages: list[ModelMessage]) -> ModelResponse:
        returns = tool_returns(messages)
        seen.append({tool_call_id: part.outcome for tool_call_id, part in returns.items()})
        return ModelResponse(parts=[text("Looked up and synced.")])

    model = ScriptedModel(
        [
            [
                call("get_contact", {"email": "person0@acme.example"}, "read-1"),
                call("sync_contacts_to_crm", {"contacts": contacts(1)}, "write-1"),
            ],
            after_both,
        ]
    )
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("look up and add a contact")
    assert outcome.status == "awaiting_approval"
    async with session_factory() as session:
        calls = {c.tool_call_id: c.status for c in await audit_store.list_tool_calls(session, run_id=outcome.run_id)}
    assert calls == {"read-1": "succeeded", "write-1": "awaiting_approval"}

    await runtime.approvals.approve(outcome.pending_approval_ids[0], decided_by="dan")
    final = await runtime.runner.resume(outcome.run_id)
    assert final.status == "completed"
    assert seen == [{"read-1": "success", "write-1": "success"}]
    assert await crm_contact_count(session_factory) == 1


async def test_run_paused_in_one_process_resumes_from_a_fresh_runner(
    make_runtime: RuntimeFactory, database_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(3)}, "sync-3")], [text("Added 3.")]])
    first = make_runtime(model.model)
    outcome = await first.runner.start("add three contacts")
    await first.approvals.approve(outcome.pending_approval_ids[0], decided_by="erin")

    # A new engine and runtime on the same database: nothing is shared in memory.
    engine = create_engine(database_url)
    try:
        sessions = create_session_factory(engine)
        fresh_model = ScriptedModel(model.turns)
        fresh = build_runtime(
            session_factory=sessions,
            model=fresh_model.model,
            policy=first.decider.policy,
            packs=[sales_pack(providers=lambda _context: offline_providers(sessions, clock=clock))],
            ledger_spool_path=tmp_path / "fresh-spool.jsonl",
            clock=clock,
        )
        final = await fresh.runner.resume(outcome.run_id)
        assert final.status == "completed"
        assert final.output == "Added 3."
        assert await crm_contact_count(sessions) == 3
        # The fresh process saw the whole stored conversation.
        assert len(fresh_model.requests) == 1
        assert any(isinstance(m, ModelResponse) for m in fresh_model.requests[0].messages)
    finally:
        await engine.dispose()


async def test_expired_approval_is_reported_as_expired_not_denied(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    from datetime import timedelta

    from signoff.agent.runs import RunnerSettings

    told: list[str] = []

    def after_expiry(messages: list[ModelMessage]) -> ModelResponse:
        told.append(tool_returns(messages)["sync-2"].model_response_str())
        return ModelResponse(parts=[text("The approval expired.")])

    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(2)}, "sync-2")], after_expiry])
    runtime = make_runtime(model.model, settings=RunnerSettings(approval_ttl=timedelta(hours=1)))
    outcome = await runtime.runner.start("add two contacts")
    approval_id = outcome.pending_approval_ids[0]

    clock.advance(timedelta(hours=2))
    with pytest.raises(ApprovalAlreadyDecided, match="expired"):
        await runtime.approvals.approve(approval_id, decided_by="frank")
    final = await runtime.runner.resume(outcome.run_id)

    assert final.status == "completed"
    assert (await runtime.approvals.get(approval_id)).state == "expired"
    assert len(told) == 1
    assert "expired" in told[0] and "not a denial" in told[0]
    assert await crm_contact_count(session_factory) == 0


async def test_unknown_tool_has_no_side_effect(make_runtime: RuntimeFactory, session_factory: SessionFactory) -> None:
    model = ScriptedModel([[call("delete_all_contacts", {}, "bad-1")], [text("I cannot do that.")]])
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("delete everything")
    assert outcome.status == "completed"
    assert await crm_contact_count(session_factory) == 0
    # pydantic-ai answers an unknown tool name with a retry prompt; the guard never saw it.
    retry_text = str(model.requests[1].messages[-1].parts[0])
    assert "delete_all_contacts" in retry_text
