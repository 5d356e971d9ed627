"""The offline scripted model drives the demo task through the real guard, and says so otherwise."""

from __future__ import annotations

from inline_snapshot import snapshot

from signoff.agent.store import audit as audit_store
from signoff.agent.store.engine import SessionFactory
from signoff.tools.sales.demo_model import NO_MODEL_MESSAGE
from signoff.tools.sales.demo_model import sales_offline_model as offline_model
from tests.agent.helpers import crm_contact_count
from tests.conftest import RuntimeFactory

DEMO = "find 5 fintech leads in Berlin, enrich them and add them to the CRM"


async def test_demo_task_pauses_for_the_crm_sync_then_adds_five_contacts(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    runtime = make_runtime(offline_model())
    outcome = await runtime.runner.start(DEMO)
    assert outcome.status == "awaiting_approval"
    approval = await runtime.approvals.get(outcome.pending_approval_ids[0])
    assert approval.tool_name == "sync_contacts_to_crm"
    assert approval.summary.startswith("Create or update 5 contacts in the CRM:")

    await runtime.approvals.approve(approval.approval_id, decided_by="judy")
    final = await runtime.runner.resume(outcome.run_id)
    assert final.status == "completed"
    assert final.output == snapshot(
        "Found 5 leads and enriched them (5 paid lookups, 0 from the cache). "
        "CRM: 5 contacts created, 0 updated, 0 unchanged."
    )
    assert await crm_contact_count(session_factory) == 5

    # The same task again: enrichment now comes from the cache, and the CRM sync updates nothing new.
    again = await runtime.runner.start(DEMO)
    await runtime.approvals.approve(again.pending_approval_ids[0], decided_by="judy")
    second = await runtime.runner.resume(again.run_id)
    assert second.output is not None and "0 paid lookups, 5 from the cache" in second.output
    assert await crm_contact_count(session_factory) == 5


async def test_twelve_leads_need_approval_and_the_sync_is_split(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    runtime = make_runtime(offline_model())
    outcome = await runtime.runner.start(DEMO.replace("5", "12"))
    while outcome.status == "awaiting_approval":
        for approval_id in outcome.pending_approval_ids:
            await runtime.approvals.approve(approval_id, decided_by="ken")
        outcome = await runtime.runner.resume(outcome.run_id)
    assert outcome.status == "completed"
    assert await crm_contact_count(session_factory) == 12
    async with session_factory() as session:
        calls = await audit_store.list_tool_calls(session, run_id=outcome.run_id)
    assert [(c.tool_name, c.verdict, c.rule, c.items, c.status) for c in calls] == snapshot(
        [
            ("discover_leads", "require_approval", "spend_threshold", 12, "succeeded"),
            ("enrich_contacts", "require_approval", "spend_threshold", 12, "succeeded"),
            ("sync_contacts_to_crm", "deny", "batch_limit", 12, "denied"),
            ("sync_contacts_to_crm", "require_approval", "tool_metadata_approval", 10, "succeeded"),
            ("sync_contacts_to_crm", "require_approval", "tool_metadata_approval", 2, "succeeded"),
        ]
    )


async def test_other_tasks_are_told_no_model_is_configured(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(offline_model())
    outcome = await runtime.runner.start("write a haiku about pipelines")
    assert outcome.status == "completed"
    assert outcome.output == NO_MODEL_MESSAGE
    assert "ANTHROPIC_API_KEY" in NO_MODEL_MESSAGE
