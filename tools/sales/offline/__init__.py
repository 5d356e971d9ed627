"""Offline sales providers: deterministic, stored in the database, and never in touch with the outside.

They are the default when no vendor is configured, and what tests use to count the effects of a run
(contacts created, campaigns made, enrollments, emails in the outbox, paid enrichment lookups).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.sales.clock import Clock, utc_now
from signoff.tools.sales.enrichment_cache import ENRICHMENT_CACHE_TTL, CachingEnricher
from signoff.tools.sales.offline.crm import OfflineCrm
from signoff.tools.sales.offline.enrichment import OfflineEnrichmentSource
from signoff.tools.sales.offline.lead_source import OfflineLeadSource
from signoff.tools.sales.offline.outreach import OfflineOutreach
from signoff.tools.sales.providers import SalesProviders

__all__ = [
    "OfflineCrm",
    "OfflineEnrichmentSource",
    "OfflineLeadSource",
    "OfflineOutreach",
    "offline_providers",
]


def offline_providers(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    clock: Clock = utc_now,
    enrichment_ttl: timedelta = ENRICHMENT_CACHE_TTL,
) -> SalesProviders:
    """The four offline providers on one database (its `sales_` tables must exist), sharing one clock.

    Enrichment goes through `CachingEnricher`, so `providers.enricher` also offers `paid_lookup_count()`.
    """
    return SalesProviders(
        lead_source=OfflineLeadSource(),
        enricher=CachingEnricher(
            source=OfflineEnrichmentSource(), sessionmaker=sessionmaker, clock=clock, ttl=enrichment_ttl
        ),
        crm=OfflineCrm(sessionmaker=sessionmaker, clock=clock),
        outreach=OfflineOutreach(sessionmaker=sessionmaker, clock=clock),
    )
