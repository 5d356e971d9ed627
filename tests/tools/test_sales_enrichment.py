"""Enrichment through the TTL cache: repeat lookups are free, expired entries are bought again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from inline_snapshot import snapshot
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.sales import SalesProviders, offline_providers
from signoff.tools.sales.enrichment_cache import ENRICHMENT_CACHE_TTL, CachingEnricher
from signoff.tools.sales.models import EnrichmentReport
from signoff.tools.sales.offline import OfflineEnrichmentSource
from signoff.tools.sales.tables import EnrichmentCacheRow
from tests.tools.sales_support import MovableClock, RowCounter, ToolCaller

_EMAILS = [
    "ana.lopez@northwind-labs.example",
    "ben.schmidt@cobalt-systems.example",
    "chloe.nakamura@juniper-works.example",
]


def _enricher(providers: SalesProviders) -> CachingEnricher:
    assert isinstance(providers.enricher, CachingEnricher)
    return providers.enricher


async def _cache_row(sessionmaker: async_sessionmaker[AsyncSession], email: str) -> EnrichmentCacheRow:
    async with sessionmaker() as session:
        row = await session.scalar(select(EnrichmentCacheRow).where(EnrichmentCacheRow.email == email))
    assert row is not None
    return row


def test_the_ttl_is_the_seed_platforms_720_hours() -> None:
    assert timedelta(hours=720) == ENRICHMENT_CACHE_TTL == timedelta(days=30)


async def test_a_second_enrichment_is_served_from_the_cache_without_a_paid_lookup(
    call_tool: ToolCaller, providers: SalesProviders, count_rows: RowCounter
) -> None:
    first: EnrichmentReport = await call_tool("enrich_contacts", {"emails": _EMAILS})
    assert (first.paid_lookups, first.cache_hits) == (3, 0)
    assert [contact.cache_hit for contact in first.contacts] == [False, False, False]
    assert await _enricher(providers).paid_lookup_count() == 3

    second: EnrichmentReport = await call_tool("enrich_contacts", {"emails": _EMAILS})

    assert (second.paid_lookups, second.cache_hits) == (0, 3)
    assert [contact.cache_hit for contact in second.contacts] == [True, True, True]
    assert await _enricher(providers).paid_lookup_count() == 3
    assert await count_rows(EnrichmentCacheRow) == 3
    # The cache serves the same facts it was paid for.
    assert [c.model_dump(exclude={"cache_hit"}) for c in second.contacts] == [
        c.model_dump(exclude={"cache_hit"}) for c in first.contacts
    ]


async def test_only_the_uncached_addresses_are_paid_for(call_tool: ToolCaller, providers: SalesProviders) -> None:
    await call_tool("enrich_contacts", {"emails": _EMAILS[:2]})

    report: EnrichmentReport = await call_tool("enrich_contacts", {"emails": _EMAILS})

    assert (report.paid_lookups, report.cache_hits) == (1, 2)
    assert {contact.email: contact.cache_hit for contact in report.contacts} == {
        _EMAILS[0]: True,
        _EMAILS[1]: True,
        _EMAILS[2]: False,
    }
    assert await _enricher(providers).paid_lookup_count() == 3


async def test_repeated_and_differently_cased_addresses_cost_one_lookup(
    call_tool: ToolCaller, providers: SalesProviders
) -> None:
    report: EnrichmentReport = await call_tool(
        "enrich_contacts", {"emails": ["Ana.Lopez@northwind-labs.example", "ana.lopez@NORTHWIND-LABS.example"]}
    )
    assert [contact.email for contact in report.contacts] == ["ana.lopez@northwind-labs.example"]
    assert report.paid_lookups == 1
    assert await _enricher(providers).paid_lookup_count() == 1


async def test_the_enrichment_report_the_model_reads(call_tool: ToolCaller) -> None:
    report: EnrichmentReport = await call_tool("enrich_contacts", {"emails": _EMAILS[:1]})
    assert report.model_dump(mode="json") == snapshot(
        {
            "contacts": [
                {
                    "email": "ana.lopez@northwind-labs.example",
                    "first_name": "Ana",
                    "last_name": "Lopez",
                    "phone": "+1 617 555 0102",
                    "linkedin_url": "https://linkedin.example/in/ana-lopez-80ce",
                    "title": "Chief Technology Officer",
                    "seniority": "c_level",
                    "company": "Northwind Labs",
                    "company_domain": "northwind-labs.example",
                    "employee_count": 180,
                    "company_description": "Northwind Labs builds warehouse robotics.",
                    "quality_score": 94,
                    "cache_hit": False,
                    "fetched_at": "2025-03-03T09:00:00Z",
                }
            ],
            "paid_lookups": 1,
            "cache_hits": 0,
        }
    )


async def test_an_entry_is_served_until_its_ttl_then_bought_again(
    call_tool: ToolCaller,
    providers: SalesProviders,
    clock: MovableClock,
    sales_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    bought_at = clock.now
    await call_tool("enrich_contacts", {"emails": _EMAILS[:1]})

    clock.advance(ENRICHMENT_CACHE_TTL - timedelta(seconds=1))
    still_fresh: EnrichmentReport = await call_tool("enrich_contacts", {"emails": _EMAILS[:1]})
    assert (still_fresh.paid_lookups, still_fresh.contacts[0].cache_hit) == (0, True)
    assert still_fresh.contacts[0].fetched_at == bought_at

    clock.advance(timedelta(seconds=1))
    refreshed: EnrichmentReport = await call_tool("enrich_contacts", {"emails": _EMAILS[:1]})
    assert (refreshed.paid_lookups, refreshed.contacts[0].cache_hit) == (1, False)
    assert refreshed.contacts[0].fetched_at == clock.now

    row = await _cache_row(sales_sessionmaker, _EMAILS[0])
    assert (row.paid_lookups, row.fetched_at, row.expires_at) == (2, clock.now, clock.now + ENRICHMENT_CACHE_TTL)
    assert await _enricher(providers).paid_lookup_count() == 2

    after_refresh: EnrichmentReport = await call_tool("enrich_contacts", {"emails": _EMAILS[:1]})
    assert after_refresh.cache_hits == 1


async def test_a_shorter_ttl_can_be_configured(
    sales_sessionmaker: async_sessionmaker[AsyncSession], clock: MovableClock
) -> None:
    providers = offline_providers(sales_sessionmaker, clock=clock, enrichment_ttl=timedelta(hours=1))
    await providers.enricher.enrich(_EMAILS)
    clock.advance(timedelta(minutes=59))
    assert (await providers.enricher.enrich(_EMAILS)).paid_lookups == 0
    clock.advance(timedelta(minutes=1))
    assert (await providers.enricher.enrich(_EMAILS)).paid_lookups == 3


def test_a_ttl_that_is_not_positive_is_refused(sales_sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(ValueError, match="ttl must be positive"):
        CachingEnricher(source=OfflineEnrichmentSource(), sessionmaker=sales_sessionmaker, ttl=timedelta(0))


async def test_an_entry_that_no_longer_validates_is_refreshed_not_silently_missed(
    providers: SalesProviders,
    sales_sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await providers.enricher.enrich(_EMAILS[:1])
    async with sales_sessionmaker.begin() as session:
        await session.execute(
            update(EnrichmentCacheRow).values(facts={"email": _EMAILS[0], "quality_score": "very high"})
        )

    report = await providers.enricher.enrich(_EMAILS[:1])

    assert (report.paid_lookups, report.cache_hits) == (1, 0)
    assert "no longer validates" in caplog.text
    row = await _cache_row(sales_sessionmaker, _EMAILS[0])
    assert row.facts["quality_score"] == report.contacts[0].quality_score
    assert (await providers.enricher.enrich(_EMAILS[:1])).cache_hits == 1


async def test_cache_entries_are_kept_per_provider(
    sales_sessionmaker: async_sessionmaker[AsyncSession], clock: MovableClock
) -> None:
    vendor_a = CachingEnricher(source=OfflineEnrichmentSource(name="vendor-a"), sessionmaker=sales_sessionmaker)
    vendor_b = CachingEnricher(source=OfflineEnrichmentSource(name="vendor-b"), sessionmaker=sales_sessionmaker)
    await vendor_a.enrich(_EMAILS)

    assert (await vendor_b.enrich(_EMAILS)).paid_lookups == 3
    assert (await vendor_a.paid_lookup_count(), await vendor_b.paid_lookup_count()) == (3, 3)


async def test_offline_facts_are_deterministic_and_fictional() -> None:
    source = OfflineEnrichmentSource()
    [facts] = await source.lookup(["ana.lopez@northwind-labs.example"])
    assert [facts] == await source.lookup(["ANA.LOPEZ@northwind-labs.example"])
    assert (facts.first_name, facts.last_name, facts.company, facts.company_domain) == (
        "Ana",
        "Lopez",
        "Northwind Labs",
        "northwind-labs.example",
    )
    assert facts.phone is not None
    assert facts.phone.split()[2:3] == ["555"]
    assert 100 <= int(facts.phone.split()[3]) <= 199
    assert facts.linkedin_url is not None
    assert facts.linkedin_url.startswith("https://linkedin.example/in/ana-lopez-")


async def test_personal_mail_addresses_get_no_company_facts() -> None:
    [facts] = await OfflineEnrichmentSource().lookup(["someone@gmail.com"])
    assert (facts.company, facts.company_domain, facts.employee_count, facts.first_name) == (None, None, None, None)
