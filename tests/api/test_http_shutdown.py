"""The server stops mid-run (lifespan exit) and a new app starts over the same database.

Whatever the first app was doing when it stopped (waiting for a person, between a decision and the
resume, or inside an approved call), the second app's start-up recovery, or a decision made through
it, completes the run, and each approved call reaches the CRM exactly once. A call the first app was
executing when it stopped is `unknown` and is never executed again.

The providers are counting wrappers injected through `create_app(packs=...)`; each app
gets its own, so the tests can tell which app performed a side effect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse

import signoff.api.background
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store import runs as run_store
from signoff.agent.store.engine import create_engine, create_session_factory
from signoff.agent.store.tables import ApprovalRow, RunRow, ToolCallRow
from signoff.tools.packs import PackContext, ToolPack
from signoff.tools.sales import Crm, SalesProviders, offline_providers, sales_pack
from signoff.tools.sales.models import Contact, CrmContact, CrmSyncResult
from tests.agent.helpers import contacts, crm_contact_count
from tests.api.http_support import WAIT_SECONDS, Api, api_settings, running_api
from tests.support.scripted import ScriptedModel, call, text, tool_returns

TASK = "add Person0 from Acme to the CRM"
CONTACT = contacts(1)
SYNC_CALL_ID = "sync-1"
# The first app's grace period at shutdown: long enough for nothing, so a blocked call is cancelled
# at once instead of after the production five seconds.
SHORT_GRACE_SECONDS = 0.2
# What `Runner.release` records for a call its process stopped executing.
STOPPED = "the server stopped while this call was running"


@dataclass
class UpsertLog:
    """Every CRM upsert any app performed, as (app, emails), in order."""

    upserts: list[tuple[str, list[str]]] = field(default_factory=list[tuple[str, list[str]]])

    def by(self, app: str) -> list[list[str]]:
        return [emails for name, emails in self.upserts if name == app]


@dataclass
class RecordingCrm:
    """Forwards to the offline CRM and logs each upsert under its app's name.

    With a `gate`, an upsert applies its effect and then waits for the gate before returning: a CRM that
    took the write but whose response has not arrived when the server stops.
    """

    inner: Crm
    app: str
    log: UpsertLog
    gate: asyncio.Event | None = None
    effect_applied: asyncio.Event = field(default_factory=asyncio.Event)

    async def get_contact(self, email: str) -> CrmContact | None:
        return await self.inner.get_contact(email)

    async def upsert_contacts(self, contacts: Sequence[Contact]) -> CrmSyncResult:
        self.log.upserts.append((self.app, [c.email for c in contacts]))
        result = await self.inner.upsert_contacts(contacts)
        self.effect_applied.set()
        if self.gate is not None:
            await self.gate.wait()
        return result

    async def known_emails(self, emails: Iterable[str]) -> set[str]:
        return await self.inner.known_emails(emails)


def recording_providers(
    *, app: str, log: UpsertLog, gate: asyncio.Event | None = None
) -> tuple[list[ToolPack], list[RecordingCrm]]:
    """The sales pack for `create_app`, its CRM a `RecordingCrm`, and the CRMs it built."""
    built: list[RecordingCrm] = []

    def factory(context: PackContext) -> SalesProviders:
        providers = offline_providers(context.session_factory)
        recording = RecordingCrm(providers.crm, app=app, log=log, gate=gate)
        built.append(recording)
        return replace(providers, crm=recording)

    return [sales_pack(providers=factory)], built


def sync_then_report() -> ScriptedModel:
    """One approval-requiring CRM sync, then an answer that repeats what the tool said."""

    def report(messages: list[ModelMessage]) -> ModelResponse:
        return ModelResponse(parts=[text(f"CRM sync: {tool_returns(messages)[SYNC_CALL_ID].model_response_str()}")])

    return ScriptedModel([[call("sync_contacts_to_crm", {"contacts": CONTACT}, SYNC_CALL_ID)], report])


@pytest.fixture
def log() -> UpsertLog:
    return UpsertLog()


async def _start_and_wait_for_approval(api: Api) -> tuple[str, str]:
    response = await api["alice"].post("/v1/tasks", json={"message": TASK})
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    run = await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "awaiting_approval")
    [pending] = run["pending_approvals"]
    return run_id, pending["approval_id"]


async def _approve(api: Api, approval_id: str) -> None:
    decided = await api["bob"].post(f"/v1/approvals/{approval_id}/decision", json={"decision": "approve"})
    assert decided.status_code == 200, decided.text


async def _completed(api: Api, run_id: str) -> dict[str, Any]:
    return await api.wait_for_run("alice", run_id, until=lambda r: r["status"] not in ("running", "awaiting_approval"))


async def _approval_state(api: Api, approval_id: str) -> str:
    response = await api["bob"].get(f"/v1/approvals/{approval_id}")
    assert response.status_code == 200, response.text
    return response.json()["state"]


async def _settled_everywhere(api: Api, run_id: str) -> None:
    """Nothing of the run is pending or in flight, in the database or in the app."""
    async with asyncio.timeout(WAIT_SECONDS):
        # The run's task may still be returning after the run was stored as completed.
        while True:
            if api.app.state.background.in_flight == 0:
                break
            await asyncio.sleep(0.02)
    queue = await api["bob"].get("/v1/approvals", params={"run_id": run_id})
    assert queue.json()["items"] == []
    for state in ("approved", "executing"):
        stuck = await api["bob"].get("/v1/approvals", params={"run_id": run_id, "status": state})
        assert stuck.json()["items"] == [], state


async def test_run_waiting_for_approval_is_decided_through_the_next_app(
    database_url: str, tmp_path: Path, log: UpsertLog
) -> None:
    settings = api_settings(database_url, tmp_path)
    model = sync_then_report()
    first_providers, _ = recording_providers(app="first", log=log)
    async with running_api(settings, model=model.model, packs=first_providers) as first:
        run_id, approval_id = await _start_and_wait_for_approval(first)
        keys = first.keys
    # The first app stopped while the run waited for a person: there was nothing in flight to hand over.

    second_providers, _ = recording_providers(app="second", log=log)
    async with running_api(settings, keys=keys, model=model.model, packs=second_providers) as second:
        # Start-up recovery found the run still waiting and left it alone.
        run = await second.wait_for_run("alice", run_id, until=lambda r: True)
        assert run["status"] == "awaiting_approval"
        assert [a["approval_id"] for a in run["pending_approvals"]] == [approval_id]

        await _approve(second, approval_id)
        run = await _completed(second, run_id)
        await _settled_everywhere(second, run_id)

        assert run["status"] == "completed", run
        assert '"created":1' in run["output"].replace(" ", "")
        assert await _approval_state(second, approval_id) == "executed"
        assert [(c["tool"], c["status"]) for c in run["tool_calls"]] == [("sync_contacts_to_crm", "succeeded")]
        assert log.upserts == [("second", [CONTACT[0]["email"]])]
        assert await crm_contact_count(second.app.state.runtime.session_factory) == 1


async def test_decision_recorded_before_the_stop_is_carried_out_by_the_next_apps_recovery(
    database_url: str, tmp_path: Path, log: UpsertLog
) -> None:
    settings = api_settings(database_url, tmp_path)
    model = sync_then_report()
    first_providers, _ = recording_providers(app="first", log=log)
    async with running_api(settings, model=model.model, packs=first_providers) as first:
        run_id, approval_id = await _start_and_wait_for_approval(first)
        # The decision is committed, and the app stops before anything resumes the run (the HTTP route
        # would resume it at once; the service is called directly to stop in between).
        await first.app.state.runtime.approvals.approve(approval_id, decided_by="bob")
        keys = first.keys
    assert log.upserts == []

    second_providers, _ = recording_providers(app="second", log=log)
    async with running_api(settings, keys=keys, model=model.model, packs=second_providers) as second:
        # Nobody touches the run: start-up recovery resumes it because all its approvals are decided.
        run = await _completed(second, run_id)
        await _settled_everywhere(second, run_id)

        assert run["status"] == "completed", run
        assert await _approval_state(second, approval_id) == "executed"
        assert log.upserts == [("second", [CONTACT[0]["email"]])]
        assert await crm_contact_count(second.app.state.runtime.session_factory) == 1


async def test_call_executing_at_shutdown_becomes_unknown_and_is_never_executed_again(
    database_url: str, tmp_path: Path, log: UpsertLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signoff.api.background, "SHUTDOWN_GRACE_SECONDS", SHORT_GRACE_SECONDS)
    settings = api_settings(database_url, tmp_path)
    model = sync_then_report()
    never = asyncio.Event()  # the CRM's response never arrives while the first app runs
    first_providers, first_crms = recording_providers(app="first", log=log, gate=never)
    async with running_api(settings, model=model.model, packs=first_providers) as first:
        run_id, approval_id = await _start_and_wait_for_approval(first)
        await _approve(first, approval_id)
        [crm] = first_crms
        await asyncio.wait_for(crm.effect_applied.wait(), WAIT_SECONDS)
        assert await _approval_state(first, approval_id) == "executing"
        assert first.app.state.background.in_flight == 1
        keys = first.keys
    # Lifespan exit: the grace period passed, the run's task was cancelled inside the CRM call, and the
    # run was released. The call may or may not have had its effect (here it had), so it is `unknown`.
    assert log.upserts == [("first", [CONTACT[0]["email"]])]
    stored = await _stored(database_url, run_id=run_id, approval_id=approval_id)
    assert stored.run.status == "running" and stored.run.lease_owner is not None
    assert stored.run.lease_expires_at is not None and stored.run.lease_expires_at <= datetime.now(UTC)
    assert (stored.approval.state, stored.approval.error) == ("unknown", STOPPED)
    assert [(c.status, c.error) for c in stored.calls] == [("unknown", STOPPED)]

    second_providers, _ = recording_providers(app="second", log=log)
    async with running_api(settings, keys=keys, model=model.model, packs=second_providers) as second:
        # Start-up recovery takes the released run over at once (its lease ended at shutdown).
        run = await _completed(second, run_id)
        await _settled_everywhere(second, run_id)

        assert run["status"] == "completed", run
        assert "unknown" in run["output"] and "not retried" in run["output"]
        assert await _approval_state(second, approval_id) == "unknown"
        assert [(c["tool"], c["status"]) for c in run["tool_calls"]] == [("sync_contacts_to_crm", "unknown")]
        # Executed once, by the first app; the second never called the CRM.
        assert log.upserts == [("first", [CONTACT[0]["email"]])]
        assert await crm_contact_count(second.app.state.runtime.session_factory) == 1


async def test_call_that_finishes_within_the_grace_period_completes_before_shutdown(
    database_url: str, tmp_path: Path, log: UpsertLog
) -> None:
    settings = api_settings(database_url, tmp_path)
    model = sync_then_report()
    gate = asyncio.Event()
    first_providers, first_crms = recording_providers(app="first", log=log, gate=gate)
    async with running_api(settings, model=model.model, packs=first_providers) as first:
        run_id, approval_id = await _start_and_wait_for_approval(first)
        await _approve(first, approval_id)
        [crm] = first_crms
        await asyncio.wait_for(crm.effect_applied.wait(), WAIT_SECONDS)
        # The response arrives shortly after shutdown began, well within the grace period.
        asyncio.get_running_loop().call_later(0.1, gate.set)
        keys = first.keys
    # Shutdown waited for the run, which finished in the first app.
    stored = await _stored(database_url, run_id=run_id, approval_id=approval_id)
    assert stored.run.status == "completed" and stored.approval.state == "executed"
    assert [c.status for c in stored.calls] == ["succeeded"]

    second_providers, _ = recording_providers(app="second", log=log)
    async with running_api(settings, keys=keys, model=model.model, packs=second_providers) as second:
        run = await _completed(second, run_id)
        await _settled_everywhere(second, run_id)
        assert run["status"] == "completed", run
        assert await _approval_state(second, approval_id) == "executed"
        assert log.upserts == [("first", [CONTACT[0]["email"]])]
        assert await crm_contact_count(second.app.state.runtime.session_factory) == 1


@dataclass(kw_only=True)
class Stored:
    run: RunRow
    approval: ApprovalRow
    calls: list[ToolCallRow]


async def _stored(database_url: str, *, run_id: str, approval_id: str) -> Stored:
    """The run, its approval and its audit rows as the database holds them (read between two apps)."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            run = await run_store.get_run(session, run_id=run_id)
            approval = await approval_store.get_approval(session, approval_id=approval_id)
            calls = await audit_store.list_tool_calls(session, run_id=run_id)
    finally:
        await engine.dispose()
    assert run is not None and approval is not None
    return Stored(run=run, approval=approval, calls=calls)
