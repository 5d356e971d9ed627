"""The offline CRM: idempotent, case-insensitive upserts and the lookups the policy layer relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from inline_snapshot import snapshot

from signoff.tools.sales import SalesProviders
from signoff.tools.sales.models import Contact, CrmLookup, CrmSyncResult
from signoff.tools.sales.tables import CrmContactRow
from tests.tools.sales_support import MovableClock, RowCounter, ToolCaller


def _contacts(count: int) -> list[dict[str, Any]]:
    return [
        {
            "email": f"person{index}@acme-logistics.example",
            "first_name": "Ana",
            "last_name": f"Lopez{index}",
            "company": "Acme Logistics",
        }
        for index in range(count)
    ]


async def test_syncing_the_same_eight_contacts_twice_leaves_eight_rows(
    call_tool: ToolCaller, count_rows: RowCounter
) -> None:
    first: CrmSyncResult = await call_tool("sync_contacts_to_crm", {"contacts": _contacts(8)})
    second: CrmSyncResult = await call_tool("sync_contacts_to_crm", {"contacts": _contacts(8)})

    assert (first.created, first.updated, first.unchanged) == (8, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 8)
    assert await count_rows(CrmContactRow) == 8


async def test_the_sync_result_the_model_reads(call_tool: ToolCaller) -> None:
    await call_tool("sync_contacts_to_crm", {"contacts": _contacts(2)})
    changed = [{**_contacts(2)[1], "title": "COO"}, *_contacts(3)[2:]]

    result: CrmSyncResult = await call_tool("sync_contacts_to_crm", {"contacts": [_contacts(1)[0], *changed]})

    assert result.model_dump() == snapshot(
        {
            "created": 1,
            "updated": 1,
            "unchanged": 1,
            "created_emails": ["person2@acme-logistics.example"],
            "updated_emails": ["person1@acme-logistics.example"],
            "unchanged_emails": ["person0@acme-logistics.example"],
        }
    )


async def test_email_matching_ignores_letter_case(
    call_tool: ToolCaller, providers: SalesProviders, count_rows: RowCounter
) -> None:
    await call_tool(
        "sync_contacts_to_crm",
        {"contacts": [{"email": "Ana.Lopez@Acme.example", "first_name": "Ana", "last_name": "Lopez"}]},
    )
    result: CrmSyncResult = await call_tool(
        "sync_contacts_to_crm",
        {"contacts": [{"email": "ANA.LOPEZ@acme.example", "first_name": "Ana", "last_name": "López"}]},
    )

    assert result.updated_emails == ["ana.lopez@acme.example"]
    assert await count_rows(CrmContactRow) == 1
    stored = await providers.crm.get_contact("ana.lopez@ACME.EXAMPLE")
    assert stored is not None
    assert (stored.email, stored.last_name) == ("ana.lopez@acme.example", "López")


async def test_fields_left_out_keep_their_stored_values(providers: SalesProviders, clock: MovableClock) -> None:
    created_at = clock.now
    await providers.crm.upsert_contacts(
        [Contact(email="ana@acme.example", first_name="Ana", last_name="Lopez", company="Acme", title="COO")]
    )
    clock.advance(timedelta(days=2))

    result = await providers.crm.upsert_contacts(
        [Contact(email="ana@acme.example", first_name="Ana", last_name="Lopez-Garcia")]
    )

    assert result.updated == 1
    stored = await providers.crm.get_contact("ana@acme.example")
    assert stored is not None
    assert (stored.last_name, stored.company, stored.title) == ("Lopez-Garcia", "Acme", "COO")
    assert (stored.created_at, stored.updated_at) == (created_at, clock.now)


async def test_an_unchanged_contact_keeps_its_update_time(providers: SalesProviders, clock: MovableClock) -> None:
    contact = Contact(email="ana@acme.example", first_name="Ana", last_name="Lopez")
    await providers.crm.upsert_contacts([contact])
    first_seen = clock.now
    clock.advance(timedelta(hours=1))

    await providers.crm.upsert_contacts([contact])

    stored = await providers.crm.get_contact("ana@acme.example")
    assert stored is not None
    assert stored.updated_at == first_seen


async def test_an_address_repeated_in_one_batch_is_one_contact_and_the_later_entry_wins(
    providers: SalesProviders, count_rows: RowCounter
) -> None:
    result = await providers.crm.upsert_contacts(
        [
            Contact(email="ana@acme.example", first_name="Ana", last_name="Lopez", title="CTO"),
            Contact(email="ANA@acme.example", first_name="Ana", last_name="Lopez", title="COO"),
        ]
    )

    assert (result.created, result.created_emails) == (1, ["ana@acme.example"])
    assert await count_rows(CrmContactRow) == 1
    stored = await providers.crm.get_contact("ana@acme.example")
    assert stored is not None
    assert stored.title == "COO"


async def test_known_emails_answers_which_addresses_are_contacts(providers: SalesProviders) -> None:
    await providers.crm.upsert_contacts(
        [
            Contact(email="ana@acme.example", first_name="Ana", last_name="Lopez"),
            Contact(email="ben@acme.example", first_name="Ben", last_name="Schmidt"),
        ]
    )

    assert await providers.crm.known_emails(["ANA@acme.example", "stranger@elsewhere.example"]) == {"ana@acme.example"}
    assert await providers.crm.known_emails(iter(["ben@acme.example"])) == {"ben@acme.example"}
    assert await providers.crm.known_emails([]) == set()


async def test_get_contact_tool_says_whether_the_contact_exists(call_tool: ToolCaller) -> None:
    await call_tool(
        "sync_contacts_to_crm",
        {"contacts": [{"email": "ana@acme.example", "first_name": "Ana", "last_name": "Lopez", "title": "COO"}]},
    )

    found: CrmLookup = await call_tool("get_contact", {"email": "Ana@acme.example"})
    missing: CrmLookup = await call_tool("get_contact", {"email": "nobody@acme.example"})

    assert found.model_dump(exclude={"contact": {"crm_contact_id"}}) == snapshot(
        {
            "email": "ana@acme.example",
            "found": True,
            "contact": {
                "email": "ana@acme.example",
                "first_name": "Ana",
                "last_name": "Lopez",
                "company": None,
                "title": "COO",
                "notes": None,
                "owner": None,
                "created_at": datetime(2025, 3, 3, hour=9, tzinfo=UTC),
                "updated_at": datetime(2025, 3, 3, hour=9, tzinfo=UTC),
            },
        }
    )
    assert found.contact is not None
    assert found.contact.crm_contact_id.startswith("crm_")
    assert missing.model_dump() == snapshot({"email": "nobody@acme.example", "found": False, "contact": None})
