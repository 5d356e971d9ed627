"""The reference tool pack: lead discovery, enrichment, CRM sync, campaigns and outreach email.

`sales_pack()` is the plugin (the `signoff.tool_packs` entry point `sales`);
`build_sales_tools(providers)` returns the `ToolSpec`s; `offline_providers(sessionmaker)` gives
deterministic providers that store their effects in the `sales_` tables of `sales_metadata`.
"""

from signoff.tools.sales.offline import offline_providers
from signoff.tools.sales.pack import build_sales_tools
from signoff.tools.sales.plugin import providers_of, sales_pack
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
    "providers_of",
    "sales_metadata",
    "sales_pack",
]
