"""CRM notes and owners, and inbound replies: the outside data the agent reads and the owner it may change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from inline_snapshot import snapshot
from pydantic_ai.exceptions import ModelRetry, ToolFailed

from signoff.tools.sales import SalesProviders
from signoff.tools.sales.models import Contact, CrmLookup, ReplyList
from signoff.tools.sales.offline import OfflineCrm, OfflineOutreach
from tests.tools.sales_support import MovableClock, ToolCaller

ANA = Contact(email="ana@acme.example", first_name="Ana", last_name="Lopez", company="Acme")


def _offline(providers: SalesProviders) -> tuple[OfflineCrm, OfflineOutreach]:
    assert isinstance(providers.crm, OfflineCrm) and isinstance(providers.outreach, OfflineOutreach)
    return providers.crm, providers.outreach


async def test_notes_are_appended_and_the_owner_is_set_through_the_tool(
    providers: SalesProviders, call_tool: ToolCaller, clock: MovableClock
) -> None:
    crm, _ = _offline(providers)
    await crm.upsert_contacts([ANA])
    clock.advance(timedelta(hours=1))
    await crm.add_note("ANA@acme.example", "Met at Fintech Week.")
    await crm.add_note("ana@acme.example", "Wants a demo in Q3.")

    assigned: CrmLookup = await call_tool(
        "assign_contact_owner", {"email": "ana@acme.example", "owner": "Ben@OurTeam.example"}
    )

    assert assigned.contact is not None
    assert (assigned.contact.notes, assigned.contact.owner) == (
        "Met at Fintech Week.\nWants a demo in Q3.",
        "ben@ourteam.example",
    )
    looked_up: CrmLookup = await call_tool("get_contact", {"email": "ana@acme.example"})
    assert looked_up.contact == assigned.contact


async def test_assigning_an_owner_to_a_missing_contact_tells_the_model_what_to_do(call_tool: ToolCaller) -> None:
    with pytest.raises(ToolFailed) as failed:
        await call_tool("assign_contact_owner", {"email": "nobody@acme.example", "owner": "ben@ourteam.example"})
    assert failed.value.message == snapshot(
        "assign_contact_owner failed: provider 'offline-crm': there is no contact with the address "
        "'nobody@acme.example'. Look the contact up with get_contact, or sync it first."
    )


async def test_replies_are_filtered_by_campaign_or_sender_newest_first(
    providers: SalesProviders, call_tool: ToolCaller, clock: MovableClock
) -> None:
    _, outreach = _offline(providers)
    await outreach.record_reply(
        from_email="ana@acme.example", subject="Re: Q3", body="Yes, Tuesday.", campaign_id="cmp_1"
    )
    clock.advance(timedelta(minutes=5))
    await outreach.record_reply(from_email="Ben@acme.example", subject="Re: Q3", body="Not now.", campaign_id="cmp_1")
    await outreach.record_reply(from_email="ana@acme.example", subject="Hello", body="Direct mail.")

    to_campaign: ReplyList = await call_tool("list_replies", {"campaign_id": "cmp_1"})
    from_ana: ReplyList = await call_tool("list_replies", {"email": "ana@acme.example", "limit": 1})
    both: ReplyList = await call_tool("list_replies", {"campaign_id": "cmp_1", "email": "ana@acme.example"})

    assert [(r.from_email, r.body) for r in to_campaign.replies] == [
        ("ben@acme.example", "Not now."),
        ("ana@acme.example", "Yes, Tuesday."),
    ]
    assert (len(from_ana.replies), from_ana.total, from_ana.replies[0].body) == (1, 2, "Direct mail.")
    assert [r.body for r in both.replies] == ["Yes, Tuesday."]


async def test_list_replies_needs_a_filter(call_tool: ToolCaller) -> None:
    with pytest.raises(ModelRetry, match="needs a campaign_id, an email address, or both"):
        await call_tool("list_replies", {})


async def test_lead_bios_and_company_descriptions_are_outside_text(call_tool: ToolCaller) -> None:
    leads = await call_tool("discover_leads", {"icp": {"industry": "Fintech", "location": "Berlin"}, "limit": 1})
    report = await call_tool("enrich_contacts", {"emails": [leads[0].email]})
    assert leads[0].bio == snapshot(
        "Account Executive at Lumen Systems in Berlin. Interested in shorter onboarding for new customers."
    )
    assert report.contacts[0].company_description == snapshot("Lumen Systems builds warehouse robotics.")
