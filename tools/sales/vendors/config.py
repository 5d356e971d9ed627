"""Which vendors the sales pack talks to, from its options: real clients where credentials are set, offline
providers for the rest.

The options are the pack's entry of `SIGNOFF_PACK_OPTIONS` merged with the secrets file
(`SIGNOFF_SECRETS_FILE`); the pack never reads the environment, the database or the model for a key.
Each vendor is configured or not as a whole:

- HubSpot (CRM): `hubspot_token` (a private-app token), optional `hubspot_base_url`.
- Explorium (lead discovery and enrichment): `explorium_api_key`, optional `explorium_base_url`.
- Lemlist + SMTP (outreach): `lemlist_api_key` and `smtp_host`, `smtp_sender`, `unsubscribe_url`,
  `unsubscribe_mailto`, `unsubscribe_secret` (signs the one-click unsubscribe links); optional
  `lemlist_base_url`, `smtp_port` (587), `smtp_username`, `smtp_password`, `smtp_starttls` (true),
  `smtp_ca_file`. Outreach needs both halves: campaigns at Lemlist and single emails over SMTP.

An option the pack does not know, a half-configured vendor or a malformed value is a `ValueError` naming
the option (never its value), raised when the pack is built, before any run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.packs import CredentialCheck, ServiceHealth
from signoff.tools.sales.clock import Clock
from signoff.tools.sales.enrichment_cache import ENRICHMENT_CACHE_TTL, CachingEnricher
from signoff.tools.sales.errors import ProviderError
from signoff.tools.sales.offline import OfflineEnrichmentSource, offline_providers
from signoff.tools.sales.providers import EnrichmentSource, SalesProviders
from signoff.tools.sales.vendors.explorium import ExploriumEnrichment, ExploriumLeads
from signoff.tools.sales.vendors.http import VendorHealth
from signoff.tools.sales.vendors.hubspot import HubSpotCrm
from signoff.tools.sales.vendors.lemlist import LemlistClient
from signoff.tools.sales.vendors.outreach import LemlistSmtpOutreach
from signoff.tools.sales.vendors.smtp import SmtpSender, SmtpSettings, UnsubscribeLinks

__all__ = ["SECRET_OPTIONS", "VENDOR_OPTIONS", "VendorProviders", "vendor_providers"]

Check = Callable[[], Awaitable[str]]
"""One cheap read call with a vendor's credential; its answer is a short description safe to print."""

HUBSPOT_BASE_URL = "https://api.hubapi.com"
EXPLORIUM_BASE_URL = "https://api.explorium.ai"
LEMLIST_BASE_URL = "https://api.lemlist.com"

_OUTREACH_REQUIRED = (
    "lemlist_api_key",
    "smtp_host",
    "smtp_sender",
    "unsubscribe_url",
    "unsubscribe_mailto",
    "unsubscribe_secret",
)
_OUTREACH_OPTIONAL = (
    "lemlist_base_url",
    "smtp_port",
    "smtp_username",
    "smtp_password",
    "smtp_starttls",
    "smtp_ca_file",
)
VENDOR_OPTIONS = frozenset(
    {
        "hubspot_token",
        "hubspot_base_url",
        "explorium_api_key",
        "explorium_base_url",
        *_OUTREACH_REQUIRED,
        *_OUTREACH_OPTIONAL,
        "enrichment_ttl_hours",
    }
)
"""Every option the sales pack reads."""
SECRET_OPTIONS = frozenset(
    {"hubspot_token", "explorium_api_key", "lemlist_api_key", "smtp_password", "unsubscribe_secret"}
)
"""The options that are credentials: scrubbed from everything the pack logs or shows."""


@dataclass(kw_only=True)
class VendorProviders:
    """The providers built from the options, with what the pack contract asks of them."""

    providers: SalesProviders
    configured: tuple[str, ...]
    """The real vendors in use ("explorium", "hubspot", "lemlist", "smtp"); empty: all offline."""
    health: VendorHealth = field(default_factory=VendorHealth)
    clients: list[httpx.AsyncClient] = field(default_factory=list[httpx.AsyncClient])
    checks: list[tuple[str, Check]] = field(default_factory=list[tuple[str, "Check"]])

    async def service_health(self) -> list[ServiceHealth]:
        """The configured vendors' breakers, queues and counters (the enrichment vendor's with the cache's
        hits and misses: what the cache saved, and what was bought)."""
        enricher = self.providers.enricher
        services: list[ServiceHealth] = []
        for status in await self.health.statuses():
            service = status.as_health()
            if isinstance(enricher, CachingEnricher) and enricher.name == service.service:
                counters = {
                    **service.counters,
                    "cache_hits": enricher.counts.hits,
                    "cache_misses": enricher.counts.misses,
                }
                service = replace(service, counters=counters)
            services.append(service)
        return services

    async def check_credentials(self) -> list[CredentialCheck]:
        """One cheap read per configured vendor; a refusal is an answer (`ok=False`), not an exception."""
        results: list[CredentialCheck] = []
        for service, check in self.checks:
            try:
                detail = await check()
            except ProviderError as error:
                results.append(CredentialCheck(service=service, ok=False, detail=error.message))
            else:
                results.append(CredentialCheck(service=service, ok=True, detail=str(detail)))
        return results

    def open_client(self, base_url: str) -> httpx.AsyncClient:
        """A connection pool for one vendor, closed with the others by `aclose`."""
        client = _client(base_url)
        self.clients.append(client)
        return client

    async def aclose(self) -> None:
        """Close the vendors' connection pools."""
        for client in self.clients:
            await client.aclose()


def _known(options: Mapping[str, str]) -> None:
    unknown = sorted(set(options) - VENDOR_OPTIONS)
    if unknown:
        known = ", ".join(sorted(VENDOR_OPTIONS))
        raise ValueError(f"the sales pack has no option {', '.join(map(repr, unknown))}; it knows {known}")


def _flag(options: Mapping[str, str], name: str, default: bool) -> bool:
    value = options.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"sales pack option {name!r} must be true or false")


def _number(options: Mapping[str, str], name: str, default: float) -> float:
    value = options.get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"sales pack option {name!r} must be a number") from None
    if number <= 0:
        raise ValueError(f"sales pack option {name!r} must be positive")
    return number


def _client(base_url: str) -> httpx.AsyncClient:
    # Credentials go per request from each client (never on the shared client, whose repr and events a
    # hook could log); the client holds the connection pool and the base URL only.
    return httpx.AsyncClient(base_url=base_url, follow_redirects=False)


def vendor_providers(
    options: Mapping[str, str],
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
) -> VendorProviders:
    """The sales providers for these options (see the module docstring); offline where nothing is set."""
    _known(options)
    ttl = timedelta(hours=_number(options, "enrichment_ttl_hours", ENRICHMENT_CACHE_TTL.total_seconds() / 3600))
    vendors = VendorProviders(providers=offline_providers(sessionmaker, clock=clock, enrichment_ttl=ttl), configured=())
    lead_source, crm, outreach = vendors.providers.lead_source, vendors.providers.crm, vendors.providers.outreach
    enrichment: EnrichmentSource = OfflineEnrichmentSource()
    configured: list[str] = []

    if api_key := options.get("explorium_api_key"):
        client = vendors.open_client(options.get("explorium_base_url", EXPLORIUM_BASE_URL))
        leads = ExploriumLeads(client, api_key=api_key, health=vendors.health)
        lead_source = leads
        enrichment = ExploriumEnrichment(client, api_key=api_key, health=vendors.health)
        vendors.checks.append(("explorium", leads.check))
        configured.append("explorium")

    if token := options.get("hubspot_token"):
        client = vendors.open_client(options.get("hubspot_base_url", HUBSPOT_BASE_URL))
        hubspot = HubSpotCrm(client, token=token, health=vendors.health)
        crm = hubspot
        vendors.checks.append(("hubspot", hubspot.check))
        configured.append("hubspot")

    if any(options.get(name) for name in _OUTREACH_REQUIRED):
        missing = [name for name in _OUTREACH_REQUIRED if not options.get(name)]
        if missing:
            raise ValueError(
                "sales pack outreach needs Lemlist and SMTP together; missing option(s) " + ", ".join(missing)
            )
        smtp = SmtpSender(_smtp_settings(options), sessionmaker=sessionmaker, clock=clock)
        client = vendors.open_client(options.get("lemlist_base_url", LEMLIST_BASE_URL))
        lemlist = LemlistClient(client, api_key=options["lemlist_api_key"], health=vendors.health)
        outreach = LemlistSmtpOutreach(lemlist=lemlist, smtp=smtp, clock=clock)
        vendors.checks.extend([("lemlist", lemlist.check), ("smtp", smtp.check)])
        configured.extend(["lemlist", "smtp"])

    vendors.providers = SalesProviders(
        lead_source=lead_source,
        enricher=CachingEnricher(source=enrichment, sessionmaker=sessionmaker, clock=clock, ttl=ttl),
        crm=crm,
        outreach=outreach,
    )
    vendors.configured = tuple(sorted(configured))
    return vendors


def _smtp_settings(options: Mapping[str, str]) -> SmtpSettings:
    port = options.get("smtp_port", "587")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("sales pack option 'smtp_port' must be a port number")
    secret = options["unsubscribe_secret"]
    return SmtpSettings(
        host=options["smtp_host"],
        port=int(port),
        sender=options["smtp_sender"],
        unsubscribe=UnsubscribeLinks(
            mailto=options["unsubscribe_mailto"], url_base=options["unsubscribe_url"], secret=secret
        ),
        username=options.get("smtp_username"),
        password=options.get("smtp_password"),
        start_tls=_flag(options, "smtp_starttls", True),
        ca_file=options.get("smtp_ca_file"),
    )
