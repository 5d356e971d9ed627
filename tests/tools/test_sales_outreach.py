"""The offline outreach platform: campaigns, enrollments and the outbox, all stored and countable."""

from __future__ import annotations

import pytest
from pydantic_ai.exceptions import ToolFailed
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.sales import NotFoundError, SalesProviders
from signoff.tools.sales.models import Campaign, EnrollmentResult, SentEmail
from signoff.tools.sales.tables import CampaignRow, EnrollmentRow, OutboxRow
from tests.tools.sales_support import MovableClock, RowCounter, ToolCaller

_EMAILS = ["ana@acme.example", "ben@acme.example", "chloe@acme.example"]


async def test_each_create_campaign_call_makes_a_new_stored_draft(
    call_tool: ToolCaller,
    count_rows: RowCounter,
    clock: MovableClock,
    sales_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first: Campaign = await call_tool("create_campaign", {"name": "Logistics DACH", "description": "Ops leaders"})
    second: Campaign = await call_tool("create_campaign", {"name": "Logistics DACH"})

    assert first.campaign_id != second.campaign_id
    assert first.campaign_id.startswith("cmp_")
    assert (first.name, first.description, first.status, first.created_at) == (
        "Logistics DACH",
        "Ops leaders",
        "draft",
        clock.now,
    )
    assert await count_rows(CampaignRow) == 2
    async with sales_sessionmaker() as session:
        stored = await session.get(CampaignRow, first.campaign_id)
    assert stored is not None
    assert (stored.name, stored.description, stored.status) == ("Logistics DACH", "Ops leaders", "draft")


async def test_enrolling_in_an_unknown_campaign_fails_clearly_and_stores_nothing(
    call_tool: ToolCaller, providers: SalesProviders, count_rows: RowCounter
) -> None:
    with pytest.raises(NotFoundError) as raised:
        await providers.outreach.enroll_contacts("cmp_missing", _EMAILS)
    assert raised.value.provider == "offline-outreach"

    with pytest.raises(ToolFailed) as failed:
        await call_tool("enroll_contacts", {"campaign_id": "cmp_missing", "emails": _EMAILS})

    assert failed.value.message == (
        "enroll_contacts failed: provider 'offline-outreach': there is no campaign with id 'cmp_missing'."
        " Use a campaign_id returned by create_campaign, or create the campaign first."
    )
    assert await count_rows(EnrollmentRow) == 0


async def test_nobody_is_enrolled_twice(call_tool: ToolCaller, count_rows: RowCounter) -> None:
    campaign: Campaign = await call_tool("create_campaign", {"name": "Q3"})
    await call_tool("enroll_contacts", {"campaign_id": campaign.campaign_id, "emails": _EMAILS[:2]})

    again: EnrollmentResult = await call_tool(
        "enroll_contacts",
        {"campaign_id": campaign.campaign_id, "emails": ["ANA@acme.example", *_EMAILS[1:], "chloe@acme.example"]},
    )

    assert again.model_dump() == {
        "campaign_id": campaign.campaign_id,
        "enrolled": ["chloe@acme.example"],
        "already_enrolled": ["ana@acme.example", "ben@acme.example"],
    }
    assert await count_rows(EnrollmentRow) == 3


async def test_the_same_address_may_be_in_two_campaigns(providers: SalesProviders, count_rows: RowCounter) -> None:
    spring = await providers.outreach.create_campaign("Spring")
    autumn = await providers.outreach.create_campaign("Autumn")
    await providers.outreach.enroll_contacts(spring.campaign_id, _EMAILS[:1])

    result = await providers.outreach.enroll_contacts(autumn.campaign_id, _EMAILS[:1])

    assert result.enrolled == _EMAILS[:1]
    assert await count_rows(EnrollmentRow) == 2


async def test_sent_email_lands_in_the_outbox(
    call_tool: ToolCaller, clock: MovableClock, sales_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sent: SentEmail = await call_tool(
        "send_email", {"to": "ana@acme.example", "subject": "Quick question", "body": "Hi Ana,\n\nShort note.\n\nBen"}
    )

    assert sent.message_id.startswith("msg_")
    assert (sent.to, sent.subject, sent.sent_at) == ("ana@acme.example", "Quick question", clock.now)
    async with sales_sessionmaker() as session:
        outbox = list(await session.scalars(select(OutboxRow)))
    assert [(row.message_id, row.to_email, row.subject, row.body, row.sent_at) for row in outbox] == [
        (sent.message_id, "ana@acme.example", "Quick question", "Hi Ana,\n\nShort note.\n\nBen", clock.now)
    ]


async def test_every_send_is_a_new_message(call_tool: ToolCaller, count_rows: RowCounter) -> None:
    args = {"to": "ana@acme.example", "subject": "Hello", "body": "Hi"}
    first: SentEmail = await call_tool("send_email", args)
    second: SentEmail = await call_tool("send_email", args)
    assert first.message_id != second.message_id
    assert await count_rows(OutboxRow) == 2
