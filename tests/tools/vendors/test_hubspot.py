"""The HubSpot client against the HubSpot double on a real socket: sync, search, owners, and every resilience path.

Nothing is patched: `HubSpotCrm` sends real HTTP to `create_hubspot_app` served on 127.0.0.1, whose state and
request log say what HubSpot would have stored and seen.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from inline_snapshot import snapshot

from signoff.tools.sales.errors import CircuitOpenError, NotFoundError, UnauthorizedError
from signoff.tools.sales.models import Contact
from signoff.tools.sales.providers import Crm, CrmDomains
from signoff.tools.sales.testing.faults import Fault, FaultPlan
from signoff.tools.sales.testing.hubspot import HubSpotState, create_hubspot_app
from signoff.tools.sales.testing.serving import serve_app
from signoff.tools.sales.vendors.http import VendorHealth, VendorLimits
from signoff.tools.sales.vendors.hubspot import HubSpotCrm, hubspot_error_code

TOKEN = "pat-na1-canary-7d2c9e41-5b0a-4c3e-9f1d-2a6b8c0e4f11"
CONTACTS = "/crm/v3/objects/contacts"
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
SEARCH = "/crm/v3/objects/contacts/search"


@dataclass(kw_only=True)
class Portal:
    """The double's state and fault plan, and a client pointed at it."""

    state: HubSpotState
    plan: FaultPlan
    client: httpx.AsyncClient
    health: VendorHealth

    def crm(self, *, token: str = TOKEN, search_per_second: int = 5, **limits: float) -> HubSpotCrm:
        """A client with test-sized limits (fast retries, short timeouts) and this portal's breaker."""
        settings: dict[str, float] = {
            "requests": 100,
            "per_seconds": 1.0,
            "max_attempts": 4,
            "max_retry_seconds": 8.0,
            "timeout_seconds": 2.0,
            **limits,
        }
        vendor_limits = VendorLimits(
            service="hubspot",
            requests=int(settings["requests"]),
            per_seconds=settings["per_seconds"],
            max_attempts=int(settings["max_attempts"]),
            max_retry_seconds=settings["max_retry_seconds"],
            timeout_seconds=settings["timeout_seconds"],
            breaker_failures=int(settings.get("breaker_failures", 5)),
            breaker_reset_seconds=settings.get("breaker_reset_seconds", 30.0),
        )
        return HubSpotCrm(
            self.client, token=token, health=self.health, limits=vendor_limits, search_per_second=search_per_second
        )


@pytest.fixture
async def portal() -> AsyncIterator[Portal]:
    state = HubSpotState()
    plan = FaultPlan()
    async with (
        serve_app(create_hubspot_app(state, token=TOKEN, plan=plan)) as served,
        httpx.AsyncClient(base_url=served.base_url) as client,
    ):
        yield Portal(state=state, plan=plan, client=client, health=VendorHealth())


@pytest.fixture
def hubspot(portal: Portal) -> HubSpotCrm:
    return portal.crm()


def _ana(index: int, **fields: str | None) -> Contact:
    values: dict[str, str | None] = {
        "email": f"Ana{index}@Acme.example",
        "first_name": "Ana",
        "last_name": f"Lopez{index}",
        "company": "Acme",
        "title": "COO",
        **fields,
    }
    return Contact.model_validate(values)


async def test_the_client_is_a_crm_that_also_knows_domains(hubspot: HubSpotCrm) -> None:
    as_crm: Crm = hubspot
    assert as_crm.name == "hubspot"
    assert isinstance(hubspot, CrmDomains)
    assert await hubspot.check() == "hubspot: token accepted"


async def test_a_sync_creates_then_changes_nothing_then_updates_only_what_changed(
    portal: Portal, hubspot: HubSpotCrm
) -> None:
    contacts = [_ana(0), _ana(1), _ana(2)]

    first = await hubspot.upsert_contacts(contacts)
    second = await hubspot.upsert_contacts(contacts)
    upserts = portal.state.count(path=UPSERT)
    stamps = {c.object_id: c.updated_at for c in portal.state.contacts.values()}
    # Title changed, company left out (it must keep the stored "Acme"), the others as they were.
    third = await hubspot.upsert_contacts([contacts[0], _ana(1, title="CFO", company=None), contacts[2]])

    assert first.model_dump() == snapshot(
        {
            "created": 3,
            "updated": 0,
            "unchanged": 0,
            "created_emails": ["ana0@acme.example", "ana1@acme.example", "ana2@acme.example"],
            "updated_emails": [],
            "unchanged_emails": [],
        }
    )
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    assert upserts == 1, "unchanged contacts are not sent again"
    assert portal.state.count(path=UPSERT) == 2, "the third sync sends the one changed contact"
    assert third.updated_emails == ["ana1@acme.example"]
    assert third.unchanged_emails == ["ana0@acme.example", "ana2@acme.example"]
    assert len(portal.state.contacts) == 3
    ana1 = portal.state.contact_by_email("ana1@acme.example")
    assert ana1 is not None
    kept = {name: ana1.properties[name] for name in ("jobtitle", "company", "firstname")}
    assert kept == {"jobtitle": "CFO", "company": "Acme", "firstname": "Ana"}
    changed = {c.object_id for c in portal.state.contacts.values() if c.updated_at != stamps[c.object_id]}
    assert changed == {ana1.object_id}, "only the changed contact's last-modified date moved"


async def test_a_contact_hubspot_refuses_is_reported_alone_and_the_rest_are_synced(
    portal: Portal, hubspot: HubSpotCrm
) -> None:
    portal.state.refused_emails.add("blocked@acme.example")

    result = await hubspot.upsert_contacts([_ana(0), _ana(0, email="blocked@acme.example"), _ana(1)])

    assert result.model_dump() == snapshot(
        {
            "created": 2,
            "updated": 0,
            "unchanged": 0,
            "created_emails": ["ana0@acme.example", "ana1@acme.example"],
            "updated_emails": [],
            "unchanged_emails": [],
            "failed": [{"email": "blocked@acme.example", "error_code": "VALIDATION_ERROR (INVALID_EMAIL)"}],
        }
    )
    assert portal.state.count(path=UPSERT, status=207) == 1
    assert portal.state.contact_by_email("blocked@acme.example") is None
    # HubSpot's message echoes the refused value; only its codes may reach the model.
    assert "is invalid" not in result.model_dump_json()


async def test_contacts_are_associated_with_their_company_once(portal: Portal, hubspot: HubSpotCrm) -> None:
    contacts = [
        _ana(0),
        _ana(1, company="Acme Inc"),
        _ana(2, email="cy@gmail.com", company="Freelance"),  # a mailbox domain names no company
        _ana(3, email="di@beta.example", company=None),  # no company given: none is guessed
    ]

    await hubspot.upsert_contacts(contacts)
    after_first = len(portal.state.requests)
    second = await hubspot.upsert_contacts(contacts)
    again_in_a_new_process = await portal.crm().upsert_contacts(contacts)
    after_third = len(portal.state.requests)
    newcomer = await portal.crm().upsert_contacts([_ana(4)])  # finds the company by domain, creates none

    companies = list(portal.state.companies.values())
    assert [(c.properties["name"], c.properties["domain"]) for c in companies] == [("Acme", "acme.example")]
    company_id = companies[0].object_id
    by_email = {c.properties["email"]: c.object_id for c in portal.state.contacts.values()}
    associated = {email for email, contact_id in by_email.items() if portal.state.companies_of(contact_id)}
    assert associated == {"ana0@acme.example", "ana1@acme.example", "ana4@acme.example"}
    assert portal.state.associations >= {(by_email["ana0@acme.example"], company_id, 279)}
    assert second.unchanged == again_in_a_new_process.unchanged == 4
    # The second and third syncs only read the contacts: no search, no company, no association request.
    assert [seen.path for seen in portal.state.requests[after_first:after_third]] == [
        "/crm/v3/objects/contacts/batch/read"
    ] * 2
    assert newcomer.created_emails == ["ana4@acme.example"]
    assert portal.state.count(method="POST", path="/crm/v3/objects/companies/search") == 2
    assert portal.state.count(method="PUT") == 3


async def test_get_contact_reads_the_stored_record_with_its_owner(portal: Portal, hubspot: HubSpotCrm) -> None:
    owner = portal.state.add_owner(email="Seller@Signoff.example", first_name="Sam", last_name="Seller")
    portal.state.add_contact(
        email="ana@acme.example", firstname="Ana", lastname="Lopez", jobtitle="COO", hubspot_owner_id=owner.owner_id
    )
    portal.state.add_contact(email="form@acme.example")  # a form fill: no name

    ana = await hubspot.get_contact("ANA@acme.example")
    anonymous = await hubspot.get_contact("form@acme.example")

    assert ana is not None and anonymous is not None
    assert ana.model_dump(exclude={"crm_contact_id", "created_at", "updated_at"}) == snapshot(
        {
            "email": "ana@acme.example",
            "first_name": "Ana",
            "last_name": "Lopez",
            "company": None,
            "title": "COO",
            "notes": None,
            "owner": "seller@signoff.example",
        }
    )
    assert (anonymous.first_name, anonymous.last_name) == ("(not set)", "(not set)")
    assert await hubspot.get_contact("nobody@acme.example") is None
    assert portal.state.count(path=SEARCH) == 0, "lookups by email read the record store, not the search index"


async def test_known_emails_pages_through_search_results(portal: Portal, hubspot: HubSpotCrm) -> None:
    portal.state.search_page_cap = 3
    for index in range(8):
        portal.state.add_contact(email=f"p{index}@acme.example")
    asked = [f"P{index}@Acme.example" for index in range(8)] + ["nobody@acme.example", "other@beta.example"]

    known = await hubspot.known_emails(asked)

    assert known == {f"p{index}@acme.example" for index in range(8)}
    assert portal.state.count(path=SEARCH, status=200) == 3, "8 matches at 3 a page"
    assert await hubspot.known_emails([]) == set()


async def test_known_domains_asks_only_about_the_domains_not_yet_seen(portal: Portal, hubspot: HubSpotCrm) -> None:
    portal.state.search_page_cap = 2
    for index in range(5):
        portal.state.add_contact(email=f"p{index}@big.example")
    portal.state.add_contact(email="ana@acme.example")

    known = await hubspot.known_domains(["BIG.example", "acme.example", "none.example"])

    assert known == {"big.example", "acme.example"}
    assert portal.state.count(path=SEARCH) == 2, "page one shows big.example; the second query leaves it out"


async def test_set_owner_assigns_a_hubspot_user_and_refuses_unknown_ones(portal: Portal, hubspot: HubSpotCrm) -> None:
    owner = portal.state.add_owner(email="seller@signoff.example")
    await hubspot.upsert_contacts([_ana(0)])

    assigned = await hubspot.set_owner("ANA0@acme.example", "Seller@signoff.example")
    patches = portal.state.count(method="PATCH")
    again = await hubspot.set_owner("ana0@acme.example", "seller@signoff.example")

    assert assigned.owner == again.owner == "seller@signoff.example"
    stored = portal.state.contact_by_email("ana0@acme.example")
    assert stored is not None and stored.properties["hubspot_owner_id"] == owner.owner_id
    assert patches == portal.state.count(method="PATCH") == 1, "an owner already set is not written again"
    fetched = await portal.crm().get_contact("ana0@acme.example")
    assert fetched is not None and fetched.owner == "seller@signoff.example"
    with pytest.raises(NotFoundError, match=re.escape("no contact with the address 'nobody@acme.example'")):
        await hubspot.set_owner("nobody@acme.example", "seller@signoff.example")
    with pytest.raises(NotFoundError, match="no HubSpot user"):
        await hubspot.set_owner("ana0@acme.example", "stranger@signoff.example")


async def test_a_refused_token_is_unauthorized_and_never_shown(portal: Portal) -> None:
    wrong = "pat-na1-wrong-0f3e5d7c-9b1a-4e2d-8c6f-000000000000"

    with pytest.raises(UnauthorizedError) as caught:
        await portal.crm(token=wrong).check()

    message = str(caught.value)
    assert message == snapshot(
        "provider 'hubspot': credentials refused (HTTP 401: INVALID_AUTHENTICATION); check the settings"
    )
    assert wrong not in message and TOKEN not in message
    seen = portal.state.requests[-1]
    assert (seen.authorized, seen.status) == (False, 401)


async def test_a_429_with_retry_after_is_waited_out(portal: Portal, hubspot: HubSpotCrm) -> None:
    portal.plan.next(Fault.throttled(retry_after=0.5), path=CONTACTS)

    started = time.monotonic()
    assert await hubspot.check() == "hubspot: token accepted"

    assert time.monotonic() - started >= 0.5
    assert portal.plan.count(status=429) == 1
    assert [seen.status for seen in portal.state.requests] == [429, 200]


async def test_hubspots_own_429_is_waited_out_from_its_rate_limit_headers(portal: Portal) -> None:
    # HubSpot documents no Retry-After on these: the wait comes from X-HubSpot-RateLimit-Interval-Milliseconds.
    portal.state.rate_limit, portal.state.rate_window_seconds = 2, 1.0
    unlimited = portal.crm(requests=100, per_seconds=1.0)

    started = time.monotonic()
    for _ in range(3):
        await unlimited.check()

    assert time.monotonic() - started >= 1.0, "the window the headers give is waited out"
    assert [seen.status for seen in portal.state.requests] == [200, 200, 429, 200]
    statuses = await portal.health.statuses()
    assert (statuses[0].throttled, statuses[0].retries) == (1, 1)


async def test_a_burst_of_server_errors_is_retried(portal: Portal, hubspot: HubSpotCrm) -> None:
    portal.plan.next(Fault.server_error(503), Fault.server_error(502), Fault.server_error(500), path=CONTACTS)

    assert await hubspot.check() == "hubspot: token accepted"

    assert [seen.status for seen in portal.state.requests] == [503, 502, 500, 200]


async def test_an_upsert_that_timed_out_after_it_was_applied_is_repeated_without_duplicates(portal: Portal) -> None:
    hubspot = portal.crm(timeout_seconds=0.5)
    portal.plan.next(Fault.timeout(1.5), method="POST", path=UPSERT)

    result = await hubspot.upsert_contacts([_ana(0, company=None), _ana(1, company=None)])

    assert result.created_emails == ["ana0@acme.example", "ana1@acme.example"]
    assert portal.state.count(path=UPSERT) == 2, "the first attempt was applied, its answer lost"
    assert sorted(c.properties["email"] for c in portal.state.contacts.values()) == [
        "ana0@acme.example",
        "ana1@acme.example",
    ]


async def test_the_breaker_opens_after_repeated_outages_and_stops_calls_before_they_leave(portal: Portal) -> None:
    hubspot = portal.crm(breaker_failures=3, max_attempts=5)
    portal.plan.next(*[Fault.server_error(503)] * 10, path=CONTACTS)

    with pytest.raises(CircuitOpenError):
        await hubspot.check()
    reached = len(portal.state.requests)
    with pytest.raises(CircuitOpenError) as caught:
        await hubspot.check()

    assert reached == len(portal.state.requests) == 3
    assert caught.value.retry_after is not None
    assert [status.breaker for status in await portal.health.statuses()] == ["opened"]


async def test_a_burst_stays_within_hubspots_rolling_limit(portal: Portal) -> None:
    portal.state.rate_limit, portal.state.rate_window_seconds = 10, 1.0
    hubspot = portal.crm(requests=10, per_seconds=1.0)

    started = time.monotonic()
    answers = await asyncio.gather(*(hubspot.check() for _ in range(30)))

    assert len(answers) == 30
    assert portal.state.count(status=429) == 0
    assert portal.state.count(status=200) == 30
    assert time.monotonic() - started >= 2.0, "30 calls at 10 per rolling second take more than two seconds"


async def test_searches_stay_within_the_search_limit(portal: Portal, hubspot: HubSpotCrm) -> None:
    portal.state.add_contact(email="p0@acme.example")

    started = time.monotonic()
    answers = await asyncio.gather(*(hubspot.known_emails([f"p{i}@acme.example"]) for i in range(10)))

    assert answers.count({"p0@acme.example"}) == 1
    assert portal.state.count(path=SEARCH, status=200) == 10
    assert portal.state.count(status=429) == 0
    assert time.monotonic() - started >= 1.0, "10 searches at 5 a second"


async def test_search_over_its_own_limit_is_throttled_and_waited_out(portal: Portal) -> None:
    hubspot = portal.crm(search_per_second=50)

    answers = await asyncio.gather(*(hubspot.known_emails([f"p{i}@acme.example"]) for i in range(8)))

    assert answers == [set()] * 8
    assert portal.state.count(path=SEARCH, status=429) == 3, "the double allows 5 searches a second"
    assert portal.state.count(path=SEARCH, status=200) == 8


async def test_the_double_speaks_hubspots_errors_and_headers(portal: Portal) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    client = portal.client
    portal.state.search_results_cap = 5

    listed = await client.get(CONTACTS, headers=auth)
    searched = await client.post(SEARCH, json={"filterGroups": []}, headers=auth)
    too_long = await client.post(SEARCH, json={"properties": ["email"] * 400}, headers=auth)
    beyond = await client.post(SEARCH, json={"after": "5"}, headers=auth)
    anonymous = await client.get(CONTACTS)
    unknown = await client.get(f"{CONTACTS}/nobody@acme.example", params={"idProperty": "email"}, headers=auth)

    assert listed.headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
    assert listed.headers["x-hubspot-ratelimit-max"] == "100"
    assert "x-hubspot-ratelimit-remaining" not in searched.headers, "documented: none on search answers"
    assert (too_long.status_code, hubspot_error_code(too_long)) == (400, "VALIDATION_ERROR")
    assert (beyond.status_code, hubspot_error_code(beyond)) == (400, "VALIDATION_ERROR")
    assert (anonymous.status_code, anonymous.json()["category"]) == (401, "INVALID_AUTHENTICATION")
    assert (unknown.status_code, hubspot_error_code(unknown)) == (404, "OBJECT_NOT_FOUND")
