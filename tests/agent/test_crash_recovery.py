"""A worker killed while executing an approved call leaves `unknown`, and nothing runs twice."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse

from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store import runs as run_store
from signoff.agent.store.engine import SessionFactory
from signoff.tools.sales import offline_providers
from tests.agent.helpers import contacts, crm_contact_count
from tests.conftest import RuntimeFactory
from tests.support.clock import FakeClock
from tests.support.crash_child import CRASH_EXIT_CODE
from tests.support.providers import CountingCrm
from tests.support.scripted import ScriptedModel, call, text, tool_returns

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


async def test_crash_between_executing_and_executed_leaves_unknown_and_no_second_execution(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock, database_url: str
) -> None:
    told: list[str] = []

    def after_recovery(messages: list[ModelMessage]) -> ModelResponse:
        told.append(tool_returns(messages)["sync-3"].model_response_str())
        return ModelResponse(parts=[text("The CRM sync may or may not have happened; please check.")])

    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(3)}, "sync-3")], after_recovery])
    providers = offline_providers(session_factory, clock=clock)
    crm = CountingCrm(providers.crm)
    runtime = make_runtime(model.model, providers=replace(providers, crm=crm))

    outcome = await runtime.runner.start("add three contacts")
    approval_id = outcome.pending_approval_ids[0]
    await runtime.approvals.approve(approval_id, decided_by="grace")

    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.crash_child", database_url, outcome.run_id, cwd=REPO_ROOT
    )
    assert await asyncio.wait_for(child.wait(), timeout=120) == CRASH_EXIT_CODE

    async with session_factory() as session:
        approval = await approval_store.get_approval(session, approval_id=approval_id)
        run = await run_store.get_run(session, run_id=outcome.run_id)
    assert approval is not None and approval.state == "executing"
    assert run is not None and run.status == "running"
    assert await crm_contact_count(session_factory) == 3  # the child's side effect happened

    # Another worker comes along after the leases ran out (the child used the real clock).
    clock.now = datetime.now(UTC) + timedelta(hours=1)
    recovered = await runtime.runner.recover()

    assert [o.status for o in recovered] == ["completed"]
    assert crm.upsert_calls == []  # never executed a second time
    assert await crm_contact_count(session_factory) == 3
    async with session_factory() as session:
        approval = await approval_store.get_approval(session, approval_id=approval_id)
        calls = await audit_store.list_tool_calls(session, run_id=outcome.run_id)
    assert approval is not None and approval.state == "unknown"
    assert [c.status for c in calls] == ["unknown"]
    assert len(told) == 1 and "unknown" in told[0] and "not retried" in told[0]

    # Recovering again, or resuming, changes nothing.
    assert await runtime.runner.recover() == []
    assert (await runtime.runner.resume(outcome.run_id)).status == "completed"
    assert crm.upsert_calls == []


async def test_recover_resumes_runs_decided_while_no_process_was_running(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(2)}, "sync-2")], [text("done")]])
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("add two contacts")
    await runtime.approvals.approve(outcome.pending_approval_ids[0], decided_by="heidi")
    # Nobody resumed (say the deciding process stopped): recovery picks the run up, once.
    recovered = await runtime.runner.recover()
    assert [(o.run_id, o.status) for o in recovered] == [(outcome.run_id, "completed")]
    assert await runtime.runner.recover() == []
    assert await crm_contact_count(session_factory) == 2
