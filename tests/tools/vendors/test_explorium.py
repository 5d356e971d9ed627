"""The Explorium clients against the Explorium double, over a real socket on 127.0.0.1."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import httpx
import pytest
from inline_snapshot import snapshot
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.sales.enrichment_cache import CachingEnricher
from signoff.tools.sales.errors import InvalidRequestError, UnauthorizedError
from signoff.tools.sales.models import CompanySize, IdealCustomerProfile
from signoff.tools.sales.testing.explorium import (
    DirectoryProspect,
    ExploriumState,
    build_directory,
    create_explorium_app,
)
from signoff.tools.sales.testing.faults import Fault, FaultPlan
from signoff.tools.sales.testing.serving import serve_app
from signoff.tools.sales.vendors.explorium import (
    ExploriumEnrichment,
    ExploriumLeads,
    explorium_error_code,
    explorium_filters,
)
from signoff.tools.sales.vendors.http import VendorHealth, VendorHttp, VendorLimits
from tests.tools.sales_support import MovableClock

# A canary: it must never show up in an error message.
API_KEY = "expl-canary-7f3a91c2d4"
# Far above anything these tests send, so only the double's own limit (where a test sets one) throttles.
UNTHROTTLED = VendorLimits(
    service="explorium", requests=100_000, per_seconds=1.0, max_retry_seconds=10.0, timeout_seconds=5.0
)
LOGISTICS = "transportation, logistics, supply chain and storage"
_SIZE_OF_RANGE: dict[str, CompanySize] = {
    "1-10": "1-10",
    "11-50": "11-50",
    "51-200": "51-200",
    "201-500": "201-500",
    "501-1000": "501-1000",
    "1001-5000": "1001-5000",
    "5001-10000": "5001+",
    "10001+": "5001+",
}


@pytest.fixture
def state() -> ExploriumState:
    # Explorium's own limit (200 queries a minute) only where a test is about it: elsewhere it would make
    # a test of something else wait for the window.
    return ExploriumState(rate_limit_queries=100_000)


@pytest.fixture
def plan() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
async def explorium(state: ExploriumState, plan: FaultPlan) -> AsyncIterator[httpx.AsyncClient]:
    app = create_explorium_app(state, api_key=API_KEY, plan=plan)
    async with serve_app(app) as served, httpx.AsyncClient(base_url=served.base_url) as client:
        yield client


@contextlib.asynccontextmanager
async def _served(state: ExploriumState) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(create_explorium_app(state, api_key=API_KEY)) as served,
        httpx.AsyncClient(base_url=served.base_url) as client,
    ):
        yield client


def _leads(client: httpx.AsyncClient, *, api_key: str = API_KEY) -> ExploriumLeads:
    return ExploriumLeads(client, api_key=api_key, health=VendorHealth(), limits=UNTHROTTLED)


def _enrichment(
    client: httpx.AsyncClient, *, limits: VendorLimits = UNTHROTTLED, health: VendorHealth | None = None
) -> ExploriumEnrichment:
    return ExploriumEnrichment(client, api_key=API_KEY, health=health or VendorHealth(), limits=limits)


def _professional_emails(state: ExploriumState, count: int) -> list[str]:
    emails = list(dict.fromkeys(p.professional_email for p in state.prospects if p.professional_email))
    return emails[:count]


def _expected_emails(
    state: ExploriumState, wanted: Callable[[DirectoryProspect], bool], limit: int
) -> tuple[list[str], int]:
    """The first `limit` distinct professional addresses among matching records, and how many rows that takes
    (records of an address already found are not counted: their hash gives them away before buying)."""
    emails: list[str] = []
    rows = 0
    for prospect in state.prospects:
        if len(emails) == limit:
            break
        if not (prospect.emails and wanted(prospect)) or prospect.professional_email in emails:
            continue
        rows += 1
        if prospect.professional_email is not None:
            emails.append(prospect.professional_email)
    return emails, rows


def test_the_profile_maps_to_a_closed_set_of_explorium_filters() -> None:
    icp = IdealCustomerProfile(
        industry="Logistics", location="DACH", company_size="5001+", titles=["Head of Operations", "VP of Sales"]
    )

    assert explorium_filters(icp) == snapshot(
        {
            "has_email": {"value": True},
            "linkedin_category": {"values": ["transportation, logistics, supply chain and storage"]},
            "company_country_code": {"values": ["de", "at", "ch"]},
            "company_size": {"values": ["5001-10000", "10001+"]},
            "job_title": {"values": ["Head of Operations", "VP of Sales"], "include_related_job_titles": False},
        }
    )
    assert explorium_filters(IdealCustomerProfile(industry="E-Commerce", location="UK")) == snapshot(
        {
            "has_email": {"value": True},
            "linkedin_category": {"values": ["online and mail order retail"]},
            "company_country_code": {"values": ["gb"]},
        }
    )


async def test_discovery_maps_the_profile_and_pages_to_the_limit_with_distinct_emails(
    explorium: httpx.AsyncClient, state: ExploriumState
) -> None:
    icp = IdealCustomerProfile(industry="logistics", location="Germany")

    leads = await _leads(explorium).discover_leads(icp, limit=12)

    expected, rows_needed = _expected_emails(
        state, lambda p: p.company_country_code == "de" and p.linkedin_category == LOGISTICS, 12
    )
    assert [lead.email for lead in leads] == expected
    assert len({lead.email for lead in leads}) == 12
    # What went over the wire: the mapped filters, page after page of the size asked for.
    fetches = state.calls_to("/v1/prospects")
    assert [call.body["page"] for call in fetches] == [1, 2]
    assert {(call.body["page_size"], call.body["size"], call.body["mode"]) for call in fetches} == {(12, 36, "full")}
    assert all(call.body["filters"] == explorium_filters(icp) for call in fetches)
    # Only the addresses the list still needed were bought, each once; records without a professional
    # address were bought and skipped, second records of an address were not bought at all.
    contacts = state.charges_of("contacts_information")
    assert sum(contacts.values()) == len(contacts) == rows_needed > 12
    for lead in leads:
        record = state.prospect_with_email(lead.email)
        assert record is not None
        assert (lead.first_name, lead.last_name, lead.title, lead.company, lead.company_domain) == (
            record.first_name,
            record.last_name,
            record.job_title,
            record.company_name,
            record.company_domain,
        )
        # No size in the profile: each company's band was bought once from firmographics.
        assert lead.company_size == _SIZE_OF_RANGE[record.employees_range]
        assert (lead.industry, lead.location) == ("logistics", "Germany")
    assert set(state.charges_of("firmographics").values()) == {1}


async def test_a_profile_with_size_and_titles_needs_no_firmographics(
    explorium: httpx.AsyncClient, state: ExploriumState
) -> None:
    icp = IdealCustomerProfile(
        industry="software", location="Europe", company_size="5001+", titles=["VP of Sales", "Sales Director"]
    )

    leads = await _leads(explorium).discover_leads(icp, limit=5)

    europe = {"de", "gb", "fr", "nl", "es"}
    expected, _ = _expected_emails(
        state,
        lambda p: (
            p.company_country_code in europe
            and p.linkedin_category == "software development"
            and p.employees_range in ("5001-10000", "10001+")
            and p.job_title in ("VP of Sales", "Sales Director")
        ),
        5,
    )
    assert [lead.email for lead in leads] == expected
    assert {lead.company_size for lead in leads} == {"5001+"}
    assert state.calls_to("/v1/businesses/firmographics/bulk_enrich") == []


async def test_a_second_record_of_an_address_is_neither_bought_nor_listed_twice() -> None:
    germany = [
        p
        for p in build_directory()
        if p.company_country_code == "de" and p.linkedin_category == LOGISTICS and p.professional_email
    ]
    original = germany[0]
    # The same person twice, as people databases have them: another record id, an older title, one address.
    twin = replace(original, prospect_id="f" * 40, job_title=f"Former {original.job_title}")
    state = ExploriumState(prospects=[original, twin, *germany[1:]], rate_limit_queries=100_000)

    async with _served(state) as client:
        leads = await _leads(client).discover_leads(IdealCustomerProfile(industry="logistics", location="DE"), limit=3)

    assert [lead.email for lead in leads] == [p.professional_email for p in germany[:3]]
    assert set(state.charges_of("contacts_information")) == {p.prospect_id for p in germany[:3]}
    assert state.charges_of("fetch")[twin.prospect_id] == 1  # fetched (and billed as a row), never enriched


async def test_a_profile_the_mapping_cannot_express_is_refused_before_anything_is_sent(
    explorium: httpx.AsyncClient, state: ExploriumState
) -> None:
    leads = _leads(explorium)

    with pytest.raises(InvalidRequestError, match=r"industry 'underwater basket weaving' has no Explorium"):
        await leads.discover_leads(IdealCustomerProfile(industry="underwater basket weaving", location="US"), limit=5)
    # Munich is in Bavaria (DE-BY): searching the whole region, or Germany, would widen what was asked.
    with pytest.raises(InvalidRequestError, match=r"location 'Munich' is not a country, region or city"):
        await leads.discover_leads(IdealCustomerProfile(industry="retail", location="Munich"), limit=5)
    assert await leads.discover_leads(IdealCustomerProfile(industry="retail", location="US"), limit=0) == []
    with pytest.raises(InvalidRequestError, match=r"'not-an-address' is not an email address"):
        await _enrichment(explorium).lookup(["ana.lopez@northwind-labs.example", "not-an-address"])

    assert state.requests == []


async def test_the_double_refuses_unknown_filters_and_the_client_shows_only_the_code(
    explorium: httpx.AsyncClient, state: ExploriumState
) -> None:
    body = {"mode": "full", "size": 5, "page_size": 5, "filters": {"industry": {"values": ["logistics"]}}}

    raw = await explorium.post("/v1/prospects", json=body, headers={"api_key": API_KEY})
    assert raw.status_code == 422
    assert [(error["type"], error["loc"]) for error in raw.json()["detail"]] == [
        ("extra_forbidden", ["body", "filters", "industry"])
    ]

    http = VendorHttp(
        client=explorium,
        limits=UNTHROTTLED,
        secrets=(API_KEY,),
        error_code=explorium_error_code,
        health=VendorHealth(),
    )
    messages: list[str] = []
    for sent in (body, {**body, "filters": {}, "page_size": 501}):
        with pytest.raises(InvalidRequestError) as refused:
            await http.request("POST", "/v1/prospects", json=sent, headers={"api_key": API_KEY})
        messages.append(str(refused.value))
    assert messages == [
        "provider 'explorium': refused the request (HTTP 422: extra_forbidden at body.filters.industry)",
        "provider 'explorium': refused the request (HTTP 422: less_than_equal at body.page_size)",
    ]
    assert state.credits_used == 0


async def test_enrichment_keeps_the_order_and_gives_unknown_addresses_a_sparse_entry(
    explorium: httpx.AsyncClient, state: ExploriumState
) -> None:
    first, second = _professional_emails(state, 2)
    emails = [first, "nobody@unknown-company.example", second.upper(), first]

    facts = await _enrichment(explorium).lookup(emails)

    assert [entry.email for entry in facts] == [first, "nobody@unknown-company.example", second, first]
    assert facts[0].model_dump() == snapshot(
        {
            "email": "ximena.jensen@harborline-labs.example",
            "first_name": "Ximena",
            "last_name": "Jensen",
            "phone": "+12125550196",
            "linkedin_url": "https://linkedin.example/in/ximena-jensen-67378d",
            "title": "Procurement Manager",
            "seniority": "manager",
            "company": "Harborline Labs",
            "company_domain": "harborline-labs.example",
            "employee_count": None,
            "company_description": None,
            "quality_score": 100,
        }
    )
    unknown = facts[1]
    assert unknown.model_dump(exclude={"email"}, exclude_defaults=True) == {}
    assert unknown.quality_score == 0
    record = state.prospect_with_email(second)
    assert record is not None
    assert (facts[2].first_name, facts[2].title, facts[2].company) == (
        record.first_name,
        record.job_title,
        record.company_name,
    )
    # One purchase per known address, however often it was asked for; nothing for the unknown one.
    assert state.charges_by_email() == {
        first: {"profiles": 1, "contacts_information": 1},
        second: {"profiles": 1, "contacts_information": 1},
    }


async def test_a_second_enrichment_through_the_cache_buys_nothing(
    explorium: httpx.AsyncClient,
    state: ExploriumState,
    sales_sessionmaker: async_sessionmaker[AsyncSession],
    clock: MovableClock,
) -> None:
    enricher = CachingEnricher(source=_enrichment(explorium), sessionmaker=sales_sessionmaker, clock=clock)
    emails = [*_professional_emails(state, 3), "nobody@unknown-company.example"]

    first = await enricher.enrich(emails)
    paid = dict(state.charges)
    calls = len(state.calls)
    second = await enricher.enrich([email.upper() for email in emails])

    assert (first.paid_lookups, first.cache_hits) == (4, 0)
    assert (second.paid_lookups, second.cache_hits) == (0, 4)
    assert dict(state.charges) == paid
    assert len(state.calls) == calls  # not even a free match was sent
    assert set(state.charges_by_email()) == set(emails[:3])
    assert [c.model_dump(exclude={"cache_hit"}) for c in second.contacts] == [
        c.model_dump(exclude={"cache_hit"}) for c in first.contacts
    ]


async def test_a_429_with_retry_after_is_waited_out(
    explorium: httpx.AsyncClient, state: ExploriumState, plan: FaultPlan
) -> None:
    plan.next(Fault.throttled(retry_after=1), path="/v1/prospects/match")
    emails = _professional_emails(state, 2)

    started = time.monotonic()
    facts = await _enrichment(explorium).lookup(emails)

    assert time.monotonic() - started >= 1.0
    assert plan.count(status=429) == 1
    assert all(entry.title for entry in facts)
    assert len(state.calls_to("/v1/prospects/match")) == 1  # the throttled attempt never reached the vendor
    assert state.charges_by_email() == {email: {"profiles": 1, "contacts_information": 1} for email in emails}


async def test_the_doubles_rate_limit_answers_429_with_explorium_headers_and_the_client_recovers() -> None:
    state = ExploriumState(rate_limit_queries=60, rate_window_seconds=1.0)
    emails = _professional_emails(state, 40)
    async with _served(state) as client:
        headers = {"api_key": API_KEY}
        batch = {"prospects_to_match": [{"email": email} for email in emails]}  # 40 rows: 40 queries
        admitted = await client.post("/v1/prospects/match", json=batch, headers=headers)
        refused = await client.post("/v1/prospects/match", json=batch, headers=headers)

        assert admitted.status_code == 200
        assert (admitted.headers["x-ratelimit-limit"], admitted.headers["x-ratelimit-remaining"]) == ("60", "20")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert int(refused.headers["x-ratelimit-reset"]) >= int(time.time())
        assert {key: value for key, value in refused.json().items() if key != "message"} == {
            "error": "rate_limit_exceeded",
            "retry_after": 1,
        }

        # A client that ignores the documented rate is throttled by the double, waits as told, and completes.
        facts = await _enrichment(client).lookup(emails)

    assert state.throttled >= 3
    assert all(entry.title for entry in facts)
    assert state.charges_by_email() == {email: {"profiles": 1, "contacts_information": 1} for email in emails}


async def test_a_client_at_the_documented_rate_is_never_throttled() -> None:
    state = ExploriumState(rate_limit_queries=40, rate_window_seconds=1.0)
    emails = _professional_emails(state, 20)
    limits = VendorLimits(service="explorium", requests=40, per_seconds=1.0, max_retry_seconds=10.0)
    async with _served(state) as client:
        facts = await _enrichment(client, limits=limits).lookup(emails)

    assert state.throttled == 0
    # Bulk rows count one query each: 20 for the match, 20 per enrichment.
    assert [call.queries for call in state.calls] == [20, 20, 20]
    assert all(entry.title for entry in facts)


async def test_a_burst_of_5xx_is_retried_without_buying_twice(
    explorium: httpx.AsyncClient, state: ExploriumState, plan: FaultPlan
) -> None:
    plan.next(Fault.server_error(503), Fault.server_error(500), path="/v1/prospects/profiles/bulk_enrich")
    emails = _professional_emails(state, 3)
    health = VendorHealth()

    facts = await _enrichment(explorium, health=health).lookup(emails)

    assert plan.count(kind="status") == 2
    assert all(entry.title for entry in facts)
    assert [status.retries for status in await health.statuses()] == [2]
    assert state.charges_by_email() == {email: {"profiles": 1, "contacts_information": 1} for email in emails}


async def test_a_gateway_error_after_the_vendor_billed_costs_a_second_purchase(
    explorium: httpx.AsyncClient, state: ExploriumState, plan: FaultPlan
) -> None:
    # Explorium's docs do not say whether a lost answer was billed; the double bills it (the worst case),
    # and the retry of this read buys the batch again. Pinned so the cost stays visible.
    plan.next(
        Fault(kind="status", status=502, after_processing=True), path="/v1/prospects/contacts_information/bulk_enrich"
    )
    emails = _professional_emails(state, 2)

    facts = await _enrichment(explorium).lookup(emails)

    assert all(entry.phone for entry in facts)
    assert state.charges_by_email() == {email: {"profiles": 1, "contacts_information": 2} for email in emails}


async def test_a_bad_key_is_unauthorized_and_no_message_shows_a_key(
    explorium: httpx.AsyncClient, state: ExploriumState
) -> None:
    wrong_key = "expl-wrong-key-0b8e61"
    leads = _leads(explorium, api_key=wrong_key)
    enrichment = ExploriumEnrichment(explorium, api_key=wrong_key, health=VendorHealth(), limits=UNTHROTTLED)

    errors: list[UnauthorizedError] = []
    for attempt in (
        leads.check(),
        enrichment.lookup(["ana.lopez@northwind-labs.example"]),
        leads.discover_leads(IdealCustomerProfile(industry="retail", location="US"), limit=3),
    ):
        with pytest.raises(UnauthorizedError) as refused:
            await attempt
        errors.append(refused.value)

    assert {str(error) for error in errors} == {
        "provider 'explorium': credentials refused (HTTP 401); check the settings"
    }
    assert not any(key in str(error) for error in errors for key in (wrong_key, API_KEY))
    raw = await explorium.get("/v1/credits", headers={"api_key": wrong_key})
    assert (raw.status_code, set(raw.json())) == (401, {"details", "correlation_id"})
    assert [request.authorized for request in state.requests] == [False] * 4
    assert state.credits_used == 0


async def test_check_reads_the_credit_balance(explorium: httpx.AsyncClient, state: ExploriumState) -> None:
    enrichment = _enrichment(explorium)
    await enrichment.lookup(_professional_emails(state, 2))

    assert await enrichment.check() == "explorium: API key accepted; 999996 of 1000000 credits remaining"


# About 150 requests: 10 s on a loaded 2-core machine, where each loopback request waits ~40 ms on delayed ACKs.
@pytest.mark.slow
async def test_200_lookups_with_5_percent_429s_pay_once_per_distinct_address(
    explorium: httpx.AsyncClient,
    state: ExploriumState,
    plan: FaultPlan,
    sales_sessionmaker: async_sessionmaker[AsyncSession],
    clock: MovableClock,
) -> None:
    plan.at_rate(0.05, Fault.throttled(retry_after=0.05), seed=1)
    distinct = _professional_emails(state, 150)
    enricher = CachingEnricher(source=_enrichment(explorium), sessionmaker=sales_sessionmaker, clock=clock)
    # 50 enrichments of 4 addresses: each shares one address with the one before, and the last ones wrap
    # around to the first, so cached and new addresses mix in one call.
    rounds = [[distinct[(3 * turn + offset) % len(distinct)] for offset in range(4)] for turn in range(50)]

    reports = [await enricher.enrich(emails) for emails in rounds]

    assert sum(len(emails) for emails in rounds) == 200
    assert plan.count(status=429) >= 5
    assert sum(report.paid_lookups for report in reports) == 150
    assert sum(report.cache_hits for report in reports) == 50
    assert await enricher.paid_lookup_count() == 150
    assert state.charges_by_email() == {email: {"profiles": 1, "contacts_information": 1} for email in distinct}


async def test_a_city_that_is_its_own_region_searches_exactly_there(
    explorium: httpx.AsyncClient, state: ExploriumState
) -> None:
    icp = IdealCustomerProfile(industry="logistics", location="Berlin")
    assert explorium_filters(icp)["region_country_code"] == {"values": ["DE-BE"]}
    assert "company_country_code" not in explorium_filters(icp)

    leads = await _leads(explorium).discover_leads(icp, limit=3)

    assert len(leads) == 3
    by_email = {p.professional_email: p for p in state.prospects if p.professional_email}
    assert {by_email[lead.email].city for lead in leads} == {"berlin"}
