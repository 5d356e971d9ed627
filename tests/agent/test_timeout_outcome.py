"""A tool cut off by the execution timeout may already have had its effect: its outcome is `unknown`
(never retried, a person checks), not `failed`, which would invite a retry of something that happened."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from pydantic_ai.messages import ModelMessage, ModelResponse

from signoff.agent.runs import RunnerSettings
from signoff.agent.store import approvals as approval_store
from signoff.agent.store.engine import SessionFactory
from signoff.tools.sales import Crm, offline_providers
from signoff.tools.sales.models import Contact, CrmContact, CrmSyncResult
from tests.agent.helpers import contacts, crm_contact_count
from tests.conftest import RuntimeFactory
from tests.support.clock import FakeClock
from tests.support.scripted import ScriptedModel, call, text, tool_returns


@dataclass
class CrmThatHangsAfterWriting:
    inner: Crm

    async def get_contact(self, email: str) -> CrmContact | None:
        return await self.inner.get_contact(email)

    async def upsert_contacts(self, contacts: Sequence[Contact]) -> CrmSyncResult:
        result = await self.inner.upsert_contacts(contacts)
        await asyncio.sleep(2)  # the response is lost on the way back
        return result

    async def known_emails(self, emails: Iterable[str]) -> set[str]:
        return await self.inner.known_emails(emails)


async def test_a_timed_out_approved_call_is_unknown_not_failed(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    told: list[str] = []

    def after(messages: list[ModelMessage]) -> ModelResponse:
        told.append(tool_returns(messages)["sync-2"].model_response_str())
        return ModelResponse(parts=[text("ok")])

    providers = offline_providers(session_factory, clock=clock)
    runtime = make_runtime(
        ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(2)}, "sync-2")], after]).model,
        providers=replace(providers, crm=CrmThatHangsAfterWriting(providers.crm)),
        settings=RunnerSettings(execution_lease=timedelta(seconds=0.3)),
    )
    outcome = await runtime.runner.start("add two contacts")
    await runtime.approvals.approve(outcome.pending_approval_ids[0], decided_by="ann")
    await runtime.runner.resume(outcome.run_id)

    assert await crm_contact_count(session_factory) == 2  # the side effect happened
    async with session_factory() as session:
        approval = await approval_store.get_approval(session, approval_id=outcome.pending_approval_ids[0])
    assert approval is not None
    assert (approval.state, "unknown" in told[0]) == ("unknown", True), (approval.state, told)
