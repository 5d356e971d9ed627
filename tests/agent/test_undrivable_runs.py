"""A run this worker cannot drive (its prompt version is not deployed here) fails with the reason,
instead of staying `running` after being claimed, and recovery still reaches every other run."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from signoff.agent.store import runs as run_store
from signoff.agent.store.engine import SessionFactory
from signoff.tools.sales.prompt_dir import SALES_PROMPTS
from tests.agent.helpers import contacts, crm_contact_count
from tests.conftest import RuntimeFactory
from tests.support.clock import FakeClock
from tests.support.scripted import ScriptedModel, call, text


async def test_a_run_whose_prompt_cannot_be_loaded_fails_instead_of_staying_running(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    # A worker on a newer deploy starts runs with prompt version 99; a worker without that version
    # (an older deploy still running, or a rollback) is the one that resumes them.
    newer_prompt = replace(SALES_PROMPTS.load("sales_agent"), version="99", content_hash="sha256:" + "ab" * 32)
    turns = [[call("sync_contacts_to_crm", {"contacts": contacts(2)}, "sync-2")], [text("done")]]
    newer = make_runtime(ScriptedModel(turns).model, prompt=newer_prompt)
    older = make_runtime(ScriptedModel(turns).model)

    poisoned = await newer.runner.start("add two contacts")
    healthy = await older.runner.start("add two other contacts")
    await older.approvals.approve(poisoned.pending_approval_ids[0], decided_by="ann")
    await older.approvals.approve(healthy.pending_approval_ids[0], decided_by="ann")

    outcome = await older.runner.resume(poisoned.run_id)
    assert outcome.failure_reason is not None and "has no version '99'" in outcome.failure_reason
    async with session_factory() as session:
        run = await run_store.get_run(session, run_id=poisoned.run_id)
    observed_after_resume = run.status if run else None

    clock.advance(timedelta(hours=1))
    recover_error: str | None = None
    try:
        await older.runner.recover()
    except Exception as error:
        recover_error = type(error).__name__
    async with session_factory() as session:
        poisoned_run = await run_store.get_run(session, run_id=poisoned.run_id)
        healthy_run = await run_store.get_run(session, run_id=healthy.run_id)
    assert poisoned_run is not None and healthy_run is not None

    assert {
        "after_resume": observed_after_resume,
        "recover_error": recover_error,
        "poisoned": poisoned_run.status,
        "healthy": healthy_run.status,
        "healthy_contacts_synced": await crm_contact_count(session_factory),
    } == {
        "after_resume": "failed",
        "recover_error": None,
        "poisoned": "failed",
        "healthy": "completed",
        "healthy_contacts_synced": 2,
    }
