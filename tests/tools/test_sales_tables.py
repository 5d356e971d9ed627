"""The sales tables: stable names, a live schema that matches the ORM, and an upsert both databases run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from inline_snapshot import snapshot
from sqlalchemy import Connection, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.tools.sales import SalesProviders, sales_metadata
from signoff.tools.sales.enrichment_cache import CachingEnricher, _upsert_entries
from signoff.tools.sales.tables import EnrichmentCacheRow
from tests.tools.sales_support import RowCounter


def test_table_names_are_prefixed_and_stable() -> None:
    assert sorted(sales_metadata.tables) == snapshot(
        [
            "sales_campaigns",
            "sales_crm_contacts",
            "sales_enrichment_cache",
            "sales_enrollments",
            "sales_outbox",
            "sales_replies",
            "sales_smtp_outbox",
        ]
    )


async def test_the_live_schema_matches_the_orm(sales_engine: AsyncEngine) -> None:
    # The seed platform's cache failed silently because its table had drifted from its code.
    def live_columns(connection: Connection) -> dict[str, set[str]]:
        inspector = inspect(connection)
        return {
            name: {column["name"] for column in inspector.get_columns(name)} for name in inspector.get_table_names()
        }

    async with sales_engine.connect() as connection:
        live = await connection.run_sync(live_columns)

    assert live == {name: {column.name for column in table.columns} for name, table in sales_metadata.tables.items()}


async def test_enrollment_uniqueness_is_a_named_constraint(sales_engine: AsyncEngine) -> None:
    def unique_constraints(connection: Connection) -> list[tuple[str | None, list[str]]]:
        return [(c["name"], c["column_names"]) for c in inspect(connection).get_unique_constraints("sales_enrollments")]

    async with sales_engine.connect() as connection:
        assert await connection.run_sync(unique_constraints) == [
            ("uq_sales_enrollments_campaign_email", ["campaign_id", "email"])
        ]


def test_the_cache_upsert_compiles_for_postgresql() -> None:
    now = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    entry = {
        "provider": "vendor",
        "email": "ana@acme.example",
        "facts": {"email": "ana@acme.example"},
        "fetched_at": now,
        "expires_at": now,
        "paid_lookups": 1,
    }
    sql = str(_upsert_entries("postgresql", [entry]).compile(dialect=postgresql.dialect()))
    assert "ON CONFLICT (provider, email) DO UPDATE SET" in sql
    assert "paid_lookups = (sales_enrichment_cache.paid_lookups + %(paid_lookups_1)s::INTEGER)" in sql
    assert "facts = excluded.facts" in sql


async def test_concurrent_enrichments_of_the_same_addresses_do_not_collide(
    providers: SalesProviders, count_rows: RowCounter
) -> None:
    emails = ["ana@acme.example", "ben@acme.example", "chloe@acme.example"]
    enricher = providers.enricher
    assert isinstance(enricher, CachingEnricher)

    reports = await asyncio.gather(*(enricher.enrich(emails) for _ in range(4)))

    # However the calls interleave, none fails on the primary key, every address is either a hit or a
    # paid lookup, each address is paid for at least once, and the counter agrees with the reports.
    assert all(report.paid_lookups + report.cache_hits == 3 for report in reports)
    paid = sum(report.paid_lookups for report in reports)
    assert 3 <= paid <= 12
    assert await enricher.paid_lookup_count() == paid
    assert await count_rows(EnrichmentCacheRow) == 3
