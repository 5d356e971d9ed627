"""The reference tool pack: lead discovery, enrichment, CRM sync, campaigns and outreach email.

`build_sales_tools(providers)` returns the `ToolSpec`s; `offline_providers(sessionmaker)` gives
deterministic providers that store their effects in the `sales_` tables of `sales_metadata`.
"""

from signoff.tools.sales.offline import offline_providers
from signoff.tools.sales.pack import build_sales_tools
from signoff.tools.sales.providers import (
    Crm,
    Enricher,
    EnrichmentSource,
    InvalidRequestError,
    LeadSource,
    NotFoundError,
    Outreach,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SalesProviders,
)
from signoff.tools.sales.tables import sales_metadata

__all__ = [
    "Crm",
    "Enricher",
    "EnrichmentSource",
    "InvalidRequestError",
    "LeadSource",
    "NotFoundError",
    "Outreach",
    "ProviderError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "SalesProviders",
    "build_sales_tools",
    "offline_providers",
    "sales_metadata",
]
