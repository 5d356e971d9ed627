"""A TTL cache in front of any enrichment source, stored in `sales_enrichment_cache`.

Enrichment is paid per lookup, and the same contacts come back often (a lead is enriched, synced, then
enriched again before outreach). Within the TTL a second enrichment of an address is served from the
database at no cost and reported as a cache hit; after it, the address is looked up (and paid for)
again and the entry refreshed. The seed platform's cache silently missed on every call because its
rows no longer matched its code; here an entry that no longer validates is logged and refreshed, and
every paid lookup is counted per provider so a test or cost report can see what the cache saved.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Insert, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.sales.clock import Clock, utc_now
from signoff.tools.sales.models import EnrichedContact, EnrichmentFacts, EnrichmentReport
from signoff.tools.sales.prices import SALES_PRICES
from signoff.tools.sales.providers import EnrichmentSource, ProviderError
from signoff.tools.sales.tables import EnrichmentCacheRow

__all__ = ["ENRICHMENT_CACHE_TTL", "CacheCounts", "CachingEnricher"]

_log = logging.getLogger(__name__)

# Titles, phone numbers and headcounts drift over months, not days. The seed platform re-bought facts
# after 720 hours (30 days): fresh enough for outreach, and at most one paid lookup per contact a month.
ENRICHMENT_CACHE_TTL = timedelta(hours=720)


@dataclass(kw_only=True)
class CacheCounts:
    """Cache hits (served free) and misses (paid lookups asked for) of one enricher, in this process."""

    hits: int = 0
    misses: int = 0


@dataclass(frozen=True, kw_only=True)
class CachingEnricher:
    """An `Enricher` that serves fresh cached facts for free and pays `source` only for the rest."""

    source: EnrichmentSource
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock = utc_now
    ttl: timedelta = ENRICHMENT_CACHE_TTL
    lookup_batch: int = 50
    """Addresses per paid `source.lookup`; each batch is stored before the next is bought."""
    counts: CacheCounts = field(default_factory=lambda: CacheCounts())
    """Hits and misses since the process started (for `/metrics`)."""

    def __post_init__(self) -> None:
        if self.lookup_batch < 1:
            raise ValueError(f"enrichment lookup batch must be at least 1, got {self.lookup_batch!r}")
        if self.ttl <= timedelta(0):
            raise ValueError(f"enrichment cache ttl must be positive, got {self.ttl!r}")

    @property
    def name(self) -> str:
        """The source's name; cache entries are kept per source."""
        return self.source.name

    async def enrich(self, emails: Sequence[str]) -> EnrichmentReport:
        """Facts for each distinct address (lower-cased, in first-seen order), cached or freshly paid for."""
        keys = list(dict.fromkeys(email.lower() for email in emails))
        now = self.clock()
        cached = await self._fresh_entries(keys, now=now)
        missing = [key for key in keys if key not in cached]
        # The vendor is called outside any transaction, so a slow lookup never holds a database lock.
        self.counts.hits += len(cached)
        self.counts.misses += len(missing)
        fetched = await self._lookup(missing, now=now) if missing else {}
        return EnrichmentReport(
            contacts=[cached[key] if key in cached else fetched[key] for key in keys],
            paid_lookups=len(missing),
            cache_hits=len(cached),
        )

    async def paid_lookup_count(self) -> int:
        """Paid lookups this provider has made through the cache, over the life of the database."""
        async with self.sessionmaker() as session:
            total = await session.scalar(
                select(func.coalesce(func.sum(EnrichmentCacheRow.paid_lookups), 0)).where(
                    EnrichmentCacheRow.provider == self.name
                )
            )
        return int(total or 0)

    async def _fresh_entries(self, keys: Sequence[str], *, now: datetime) -> dict[str, EnrichedContact]:
        if not keys:
            return {}
        async with self.sessionmaker() as session:
            rows = await session.scalars(
                select(EnrichmentCacheRow).where(
                    EnrichmentCacheRow.provider == self.name,
                    EnrichmentCacheRow.email.in_(keys),
                    EnrichmentCacheRow.expires_at > now,
                )
            )
            entries = list(rows)
        fresh: dict[str, EnrichedContact] = {}
        for row in entries:
            try:
                facts = EnrichmentFacts.model_validate(row.facts)
            except ValidationError as error:
                _log.warning(
                    "enrichment cache entry of provider %r no longer validates; refreshing it: %s",
                    self.name,
                    error.errors(include_url=False, include_input=False),
                )
                continue
            fresh[row.email] = _served(facts, cache_hit=True, fetched_at=row.fetched_at)
        return fresh

    async def _lookup(self, keys: Sequence[str], *, now: datetime) -> dict[str, EnrichedContact]:
        # Batch by batch, each stored (and charged) before the next is bought: a failure part-way keeps what
        # was already paid for, so a retry buys only the rest.
        served: dict[str, EnrichedContact] = {}
        for start in range(0, len(keys), self.lookup_batch):
            served |= await self._lookup_batch(keys[start : start + self.lookup_batch], now=now)
        return served

    async def _lookup_batch(self, keys: Sequence[str], *, now: datetime) -> dict[str, EnrichedContact]:
        results = await self.source.lookup(keys)
        facts_by_key = {facts.email.lower(): facts for facts in results}
        if unanswered := [key for key in keys if key not in facts_by_key]:
            raise ProviderError(f"returned no facts for {', '.join(unanswered)}", provider=self.name)
        entries = [
            {
                "provider": self.name,
                "email": key,
                "facts": facts_by_key[key].model_dump(mode="json"),
                "fetched_at": now,
                "expires_at": now + self.ttl,
                "paid_lookups": 1,
            }
            for key in keys
        ]
        async with self.sessionmaker.begin() as session:
            await session.execute(_upsert_entries(session.get_bind().dialect.name, entries))
        SALES_PRICES.charge(self.name, "enrichment", len(keys))
        return {key: _served(facts_by_key[key], cache_hit=False, fetched_at=now) for key in keys}


def _served(facts: EnrichmentFacts, *, cache_hit: bool, fetched_at: datetime) -> EnrichedContact:
    return EnrichedContact.model_validate({**facts.model_dump(), "cache_hit": cache_hit, "fetched_at": fetched_at})


def _upsert_entries(dialect_name: str, entries: list[dict[str, Any]]) -> Insert:
    """Insert or refresh cache entries in one atomic statement, adding one paid lookup to refreshed ones.

    An atomic upsert (rather than select-then-write) keeps two concurrent enrichments of one address
    from failing on the primary key; SQLite and PostgreSQL spell it the same way.
    """
    if dialect_name == "sqlite":
        sqlite_insert = sqlite.insert(EnrichmentCacheRow).values(entries)
        excluded = sqlite_insert.excluded
        return sqlite_insert.on_conflict_do_update(
            index_elements=[EnrichmentCacheRow.provider, EnrichmentCacheRow.email],
            set_={
                "facts": excluded.facts,
                "fetched_at": excluded.fetched_at,
                "expires_at": excluded.expires_at,
                "paid_lookups": EnrichmentCacheRow.paid_lookups + 1,
            },
        )
    if dialect_name == "postgresql":
        pg_insert = postgresql.insert(EnrichmentCacheRow).values(entries)
        excluded = pg_insert.excluded
        return pg_insert.on_conflict_do_update(
            index_elements=[EnrichmentCacheRow.provider, EnrichmentCacheRow.email],
            set_={
                "facts": excluded.facts,
                "fetched_at": excluded.fetched_at,
                "expires_at": excluded.expires_at,
                "paid_lookups": EnrichmentCacheRow.paid_lookups + 1,
            },
        )
    raise ValueError(f"the enrichment cache supports sqlite and postgresql, not {dialect_name!r}")
