"""The sales pack on real vendor clients, end to end: a guarded run against the HubSpot, Explorium, Lemlist and
SMTP doubles on 127.0.0.1, chosen by the pack's options exactly as a deployment chooses them.

What leaves is what the tools meant (leads searched, contacts enriched once, synced, one email sent with its
unsubscribe headers), every paid call is a provider-spend row attributed to its run, call and approval, and
no credential appears anywhere a person or a log could read it (the canary test).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from logfire.testing import CaptureLogfire
from pydantic_ai.messages import ModelMessage, ModelResponse
from sqlalchemy import select
from sqlalchemy import text as sql_text

from signoff import build_runtime
from signoff.agent.costs import cost_report
from signoff.agent.runs import RunnerSettings
from signoff.agent.runtime import Runtime
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import ProviderChargeRow, RunRow
from signoff.api.approval_views import approval_views, run_detail
from signoff.policies import PolicyEngine
from signoff.tools.packs import PackLoadError
from signoff.tools.sales import sales_pack
from signoff.tools.sales.testing.explorium import ExploriumState, create_explorium_app
from signoff.tools.sales.testing.hubspot import HubSpotState, create_hubspot_app
from signoff.tools.sales.testing.lemlist import LemlistState, create_lemlist_app
from signoff.tools.sales.testing.serving import serve_app
from signoff.tools.sales.testing.smtp import SmtpDouble
from tests.support.scripted import ScriptedModel, call, text, tool_returns

# Canaries: if any of these (or a Basic-auth form of them) shows up in a log, a row or a view, it leaked.
HUBSPOT_TOKEN = "pat-canary-hubspot-4f1d9a"
EXPLORIUM_KEY = "canary-explorium-7c2e55"
LEMLIST_KEY = "canary-lemlist-b803aa"
SMTP_PASSWORD = "canary-smtp-pass-91d0"
UNSUBSCRIBE_SECRET = "canary-unsubscribe-secret-5e"
CANARIES = (HUBSPOT_TOKEN, EXPLORIUM_KEY, LEMLIST_KEY, SMTP_PASSWORD, UNSUBSCRIBE_SECRET)
ICP = {"industry": "logistics", "location": "Hamburg"}
_IDLE = ScriptedModel([[text("idle")]]).model


@dataclass(kw_only=True)
class Vendors:
    options: dict[str, str]
    hubspot: HubSpotState
    explorium: ExploriumState
    lemlist: LemlistState
    smtp: SmtpDouble


@pytest.fixture
async def vendors() -> AsyncIterator[Vendors]:
    hubspot, explorium, lemlist = HubSpotState(), ExploriumState(), LemlistState()
    async with (
        serve_app(create_hubspot_app(hubspot, token=HUBSPOT_TOKEN)) as hubspot_served,
        serve_app(create_explorium_app(explorium, api_key=EXPLORIUM_KEY)) as explorium_served,
        serve_app(create_lemlist_app(lemlist, api_key=LEMLIST_KEY)) as lemlist_served,
        SmtpDouble(credentials=("mailer", SMTP_PASSWORD)) as smtp,
    ):
        yield Vendors(
            options={
                "hubspot_token": HUBSPOT_TOKEN,
                "hubspot_base_url": hubspot_served.base_url,
                "explorium_api_key": EXPLORIUM_KEY,
                "explorium_base_url": explorium_served.base_url,
                "lemlist_api_key": LEMLIST_KEY,
                "lemlist_base_url": lemlist_served.base_url,
                "smtp_host": smtp.host,
                "smtp_port": str(smtp.port),
                "smtp_username": "mailer",
                "smtp_password": SMTP_PASSWORD,
                "smtp_starttls": "false",
                "smtp_sender": "Dana <dana@signoff-sales.example>",
                "unsubscribe_url": "https://signoff.example/unsubscribe",
                "unsubscribe_mailto": "unsubscribe@signoff-sales.example",
                "unsubscribe_secret": UNSUBSCRIBE_SECRET,
            },
            hubspot=hubspot,
            explorium=explorium,
            lemlist=lemlist,
            smtp=smtp,
        )


def _runtime(
    model: Any, options: dict[str, str], *, session_factory: SessionFactory, policy: PolicyEngine, tmp_path: Path
) -> Runtime:
    return build_runtime(
        session_factory=session_factory,
        model=model,
        policy=policy,
        packs=[sales_pack()],
        pack_options={"sales": options},
        runner_settings=RunnerSettings(),
        ledger_spool_path=tmp_path / "spool.jsonl",
    )


def _leads(messages: list[ModelMessage]) -> list[str]:
    found = json.loads(tool_returns(messages)["find"].model_response_str())
    return [lead["email"] for lead in found]


def _enrich(messages: list[ModelMessage]) -> ModelResponse:
    return ModelResponse(parts=[call("enrich_contacts", {"emails": _leads(messages)}, "enrich")])


def _sync(messages: list[ModelMessage]) -> ModelResponse:
    contacts = [{"email": email, "first_name": "Lead", "last_name": str(n)} for n, email in enumerate(_leads(messages))]
    return ModelResponse(parts=[call("sync_contacts_to_crm", {"contacts": contacts}, "sync")])


def _send(messages: list[ModelMessage]) -> ModelResponse:
    to = _leads(messages)[0]
    body = {"to": to, "subject": "Hamburg logistics", "body": "Hello, may we talk?\n\nDana"}
    return ModelResponse(parts=[call("send_email", body, "send")])


async def test_a_run_on_real_clients_pays_once_and_ledgers_every_paid_call(
    vendors: Vendors, session_factory: SessionFactory, policy: PolicyEngine, tmp_path: Path
) -> None:
    model = ScriptedModel(
        [[call("discover_leads", {"icp": ICP, "limit": 3}, "find")], _enrich, _sync, _send, [text("done")]]
    )
    runtime = _runtime(model.model, vendors.options, session_factory=session_factory, policy=policy, tmp_path=tmp_path)
    outcome = await runtime.runner.start("find 3 logistics leads in Hamburg, enrich and sync them, email the first")
    [sync_approval] = outcome.pending_approval_ids
    await runtime.approvals.approve(sync_approval, decided_by="sam")
    outcome = await runtime.runner.resume(outcome.run_id)
    [send_approval] = outcome.pending_approval_ids
    [send_view] = await approval_views(runtime, [await runtime.approvals.get(send_approval)])
    assert send_view.estimated_cost_usd == "0.02"  # one message at the price table's $0.02
    await runtime.approvals.approve(send_approval, decided_by="sam")
    outcome = await runtime.runner.resume(outcome.run_id)
    assert outcome.status == "completed", outcome

    # What left: three leads, each enriched once, three contacts at HubSpot, one email with its headers.
    leads = _leads(model.requests[-1].messages)
    assert len(leads) == 3
    # Each lead's profile is bought once. Its contact details twice: discovery buys them to learn the address
    # (Explorium's fetch returns none), enrichment buys them again (a known cost, docs/providers.md).
    billed = vendors.explorium.charges_by_email()
    assert {email: billed[email] for email in leads} == {
        email: {"profiles": 1, "contacts_information": 2} for email in leads
    }
    assert {contact.properties["email"] for contact in vendors.hubspot.contacts.values()} == set(leads)
    [message] = vendors.smtp.received
    headers = dict(message.headers)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["Message-ID"].endswith("@signoff-sales.example>")
    assert (message.rcpt_tos, message.authenticated_as) == ((leads[0],), "mailer")

    async with session_factory() as session:
        charges = (await session.scalars(select(ProviderChargeRow).order_by(ProviderChargeRow.charge_id))).all()
        by_provider = await cost_report(session, group_by="provider")
    assert [(c.tool_call_id, c.provider, c.item, c.units, c.cost_usd) for c in charges] == [
        ("find", "explorium", "lead", 3, Decimal("0.30")),
        ("enrich", "explorium", "enrichment", 3, Decimal("1.50")),
        ("send", "smtp", "email", 1, Decimal("0.02")),
    ]
    assert [c.approval_id for c in charges] == [None, None, send_approval]
    provider_lines = {line.group: line.provider_cost_usd for line in by_provider if line.provider_calls}
    assert provider_lines == {"provider:explorium": Decimal("1.80"), "provider:smtp": Decimal("0.02")}

    health = {service.service: service for service in await runtime.service_health()}
    assert sorted(health) == ["explorium", "hubspot", "lemlist"]
    assert {service.breaker for service in health.values()} == {"closed"}
    assert (health["explorium"].counters["cache_hits"], health["explorium"].counters["cache_misses"]) == (0, 3)
    await runtime.close_packs()


async def test_no_credential_appears_in_logs_traces_errors_rows_or_views(
    vendors: Vendors,
    session_factory: SessionFactory,
    policy: PolicyEngine,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfire: CaptureLogfire,
) -> None:
    # Lemlist refuses this key: the failure must name the problem, not the key.
    wrong_lemlist = "canary-lemlist-WRONG-3318"
    options = {**vendors.options, "lemlist_api_key": wrong_lemlist}
    model = ScriptedModel(
        [
            [call("discover_leads", {"icp": ICP, "limit": 2}, "find")],
            [call("create_campaign", {"name": "Hamburg Q3"}, "campaign")],
            [text("done")],
        ]
    )
    caplog.set_level(logging.DEBUG)
    runtime = _runtime(model.model, options, session_factory=session_factory, policy=policy, tmp_path=tmp_path)
    outcome = await runtime.runner.start("find 2 logistics leads in Hamburg and make a campaign")
    [approval_id] = outcome.pending_approval_ids
    await runtime.approvals.approve(approval_id, decided_by="sam")
    outcome = await runtime.runner.resume(outcome.run_id)
    checks = {check.service: check for check in await runtime.check_credentials()}

    trail = {record.tool_call_id: record for record in await runtime.audit_trail(outcome.run_id)}
    assert trail["campaign"].status == "failed"
    assert "credentials refused" in (trail["campaign"].error or "")
    assert (checks["lemlist"].ok, checks["hubspot"].ok, checks["explorium"].ok, checks["smtp"].ok) == (
        False,
        True,
        True,
        True,
    )

    async with session_factory() as session:
        run = await session.get(RunRow, outcome.run_id)
    assert run is not None
    detail = await run_detail(runtime, run)
    async with session_factory() as session:
        tables = (
            await session.execute(sql_text("SELECT name FROM sqlite_master WHERE type = 'table'"))
            if session.get_bind().dialect.name == "sqlite"
            else await session.execute(
                sql_text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
            )
        )
        rows: list[str] = []
        for (table,) in tables.all():
            rows.extend(str(tuple(row)) for row in (await session.execute(sql_text(f'SELECT * FROM "{table}"'))).all())
    await runtime.close_packs()

    surfaces = {
        "logs": caplog.text,
        "traces": str(capfire.exporter.exported_spans_as_dict()),
        "database rows": "\n".join(rows),
        "run detail": json.dumps(detail, default=str),
        "outcome": repr(outcome),
        "credential checks": repr(checks),
    }
    secrets = (*CANARIES, wrong_lemlist)
    forms = {secret for secret in secrets} | {
        base64.b64encode(f"{user}:{secret}".encode()).decode() for secret in secrets for user in ("", "mailer")
    }
    leaks = {where: sorted(form for form in forms if form in shown) for where, shown in surfaces.items()}
    assert leaks == {where: [] for where in surfaces}
    assert len(rows) > 20 and caplog.text  # the surfaces were really read


async def test_a_misconfigured_vendor_stops_the_pack_at_load_naming_the_option_not_its_value(
    session_factory: SessionFactory, policy: PolicyEngine, tmp_path: Path
) -> None:
    with pytest.raises(PackLoadError) as unknown:
        _runtime(
            _IDLE, {"hubspot_tokn": HUBSPOT_TOKEN}, session_factory=session_factory, policy=policy, tmp_path=tmp_path
        )
    assert "'hubspot_tokn'" in str(unknown.value) and HUBSPOT_TOKEN not in str(unknown.value)
    with pytest.raises(PackLoadError) as half:
        _runtime(
            _IDLE, {"lemlist_api_key": LEMLIST_KEY}, session_factory=session_factory, policy=policy, tmp_path=tmp_path
        )
    assert "missing option(s) smtp_host" in str(half.value) and LEMLIST_KEY not in str(half.value)
