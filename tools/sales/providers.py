"""Provider interfaces of the sales pack, the errors providers raise, and the bundle the tools close over.

The tools never talk to a vendor directly: they call a `LeadSource`, an `Enricher`, a `Crm` and an
`Outreach` provider. Offline implementations live in `tools.sales.offline`; HTTP clients for real
vendors implement the same protocols. Enrichment is split in two: an `EnrichmentSource` is the paid
lookup itself, and `tools.sales.enrichment_cache.CachingEnricher` wraps any source with the TTL cache,
so every vendor gets the same cache instead of each client writing its own.

Providers report failures with the one hierarchy of `tools.sales.errors` (`ProviderError` and its
subclasses, re-exported here); a vendor's own exception types and HTTP errors are translated inside the
client. The tools turn `InvalidRequestError` into `ModelRetry` (the model can fix its call),
`OutcomeUnknownError` into an `unknown` outcome, and every other `ProviderError` into `ToolFailed` (the
model is told what failed and adapts, but does not retry blindly).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from signoff.tools.sales.errors import (
    CircuitOpenError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    UnauthorizedError,
)
from signoff.tools.sales.models import (
    Campaign,
    Contact,
    CrmContact,
    CrmSyncResult,
    EnrichmentFacts,
    EnrichmentReport,
    EnrollmentResult,
    IdealCustomerProfile,
    Lead,
    ReplyList,
    SentEmail,
)

__all__ = [
    "CircuitOpenError",
    "Crm",
    "CrmDomains",
    "Enricher",
    "EnrichmentSource",
    "InvalidRequestError",
    "LeadSource",
    "NotFoundError",
    "OutcomeUnknownError",
    "Outreach",
    "ProviderError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "SalesProviders",
    "UnauthorizedError",
]


class LeadSource(Protocol):
    """Finds prospects that match an ideal customer profile."""

    @property
    def name(self) -> str:
        """Provider name, for errors and logs."""
        ...

    async def discover_leads(self, icp: IdealCustomerProfile, *, limit: int) -> list[Lead]:
        """At most `limit` leads matching `icp`, each with a distinct email address."""
        ...


class EnrichmentSource(Protocol):
    """A paid enrichment lookup: every address passed to `lookup` costs one lookup at the vendor."""

    @property
    def name(self) -> str:
        """Provider name; also the cache's namespace, so two vendors' facts never mix."""
        ...

    async def lookup(self, emails: Sequence[str]) -> list[EnrichmentFacts]:
        """Facts for each address, in the order given; an unknown address still gets a (sparse) entry."""
        ...


class Enricher(Protocol):
    """Enrichment as the tools see it: served from a cache where possible, paid for otherwise."""

    @property
    def name(self) -> str:
        """Provider name, for errors and logs."""
        ...

    async def enrich(self, emails: Sequence[str]) -> EnrichmentReport:
        """Facts for each distinct address (compared case-insensitively), with cache hits and paid lookups."""
        ...


class Crm(Protocol):
    """The customer database: contacts keyed by email address, compared case-insensitively."""

    @property
    def name(self) -> str:
        """Provider name, for errors and logs."""
        ...

    async def get_contact(self, email: str) -> CrmContact | None:
        """The contact with this address, or None."""
        ...

    async def upsert_contacts(self, contacts: Sequence[Contact]) -> CrmSyncResult:
        """Create contacts that are new and update those that exist; running it twice changes nothing more."""
        ...

    async def known_emails(self, emails: Iterable[str]) -> set[str]:
        """Which of these addresses are already CRM contacts, lower-cased (for the outbound-email policy rule)."""
        ...

    async def set_owner(self, email: str, owner: str) -> CrmContact:
        """Make `owner` (a salesperson's address) the owner of the contact; `NotFoundError` if there is none."""
        ...


@runtime_checkable
class CrmDomains(Protocol):
    """What a `Crm` may also answer: at which domains it has contacts (for the approval display's warning
    on a recipient domain that is new to the CRM). Optional: a CRM without it leaves domains unchecked."""

    async def known_domains(self, domains: Iterable[str]) -> set[str]:
        """Which of these domains (compared lower-cased) at least one contact's address is at."""
        ...


class Outreach(Protocol):
    """The sending platform: campaigns, enrollments and single emails."""

    @property
    def name(self) -> str:
        """Provider name, for errors and logs."""
        ...

    async def create_campaign(self, name: str, *, description: str | None = None) -> Campaign:
        """A new campaign in `draft` status; every call creates one (names need not be unique)."""
        ...

    async def enroll_contacts(self, campaign_id: str, emails: Sequence[str]) -> EnrollmentResult:
        """Enroll addresses in a campaign; already-enrolled ones are reported, not enrolled twice.

        Raises `NotFoundError` when the campaign does not exist.
        """
        ...

    async def send_email(self, *, to: str, subject: str, body: str) -> SentEmail:
        """Hand one email to the provider for delivery; the result carries the provider's message id."""
        ...

    async def list_replies(
        self, *, campaign_id: str | None = None, from_email: str | None = None, limit: int
    ) -> ReplyList:
        """Inbound replies, newest first, to one campaign and/or from one address (at least one is given)."""
        ...


@dataclass(frozen=True, kw_only=True)
class SalesProviders:
    """The four providers the sales tools close over."""

    lead_source: LeadSource
    enricher: Enricher
    crm: Crm
    outreach: Outreach
