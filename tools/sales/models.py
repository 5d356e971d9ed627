"""The sales pack's data at its edges: what the model sends to the tools and what the providers return.

Every value the model can write is validated here with real constraints (email syntax, name lengths,
list sizes). List caps are sanity bounds far above any batch limit, so that a huge payload is refused
by validation while a merely over-limit batch (12 contacts for a 10-contact CRM sync) still validates
and reaches the policy layer, which answers with a "split it" message the model can act on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

__all__ = [
    "MAX_ITEMS_PER_CALL",
    "Campaign",
    "CampaignStatus",
    "CompanySize",
    "Contact",
    "CrmContact",
    "CrmLookup",
    "CrmSyncFailure",
    "CrmSyncResult",
    "EnrichedContact",
    "EnrichmentFacts",
    "EnrichmentReport",
    "EnrollmentResult",
    "IdealCustomerProfile",
    "Lead",
    "Reply",
    "ReplyList",
    "Seniority",
    "SentEmail",
]

# Sanity cap on any list one call may carry: far above every batch limit (10, 25, 50), so batch limits
# stay a policy decision with a readable answer, while a runaway payload of thousands is still refused.
MAX_ITEMS_PER_CALL = 500

PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
CompanyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
JobTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
CompanyDomain = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=253)]
# Free text written by someone outside the company (a profile bio, a company blurb, a note, a reply). Bounded
# so one record cannot flood the model's window; the tools mark such output untrusted (see the registry).
OutsideText = Annotated[str, StringConstraints(max_length=10_000)]

CompanySize = Literal["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001+"]
"""Employee-count bands, as most lead databases filter them."""

Seniority = Literal["individual_contributor", "manager", "director", "vp", "c_level", "founder"]
CampaignStatus = Literal["draft", "active", "paused"]


class _EdgeModel(BaseModel):
    # Unknown keys are refused rather than dropped, so a misspelt field is an error the model sees.
    model_config = ConfigDict(extra="forbid")


class Contact(_EdgeModel):
    """A person to store in the CRM."""

    email: EmailStr
    first_name: PersonName
    last_name: PersonName
    company: CompanyName | None = None
    title: JobTitle | None = None


class IdealCustomerProfile(_EdgeModel):
    """Who to look for: the filters of a lead search."""

    industry: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
        Field(description="Industry of the target companies, e.g. 'logistics'."),
    ]
    location: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
        Field(description="Region, country or city, e.g. 'Germany'."),
    ]
    company_size: CompanySize | None = Field(default=None, description="Employee-count band; omit for any size.")
    titles: list[JobTitle] = Field(
        default_factory=list[str],
        max_length=10,
        description="Job titles to target, e.g. ['Head of Operations']; omit for any title.",
    )


class Lead(_EdgeModel):
    """A prospect found by a lead search: not yet in the CRM."""

    email: EmailStr
    first_name: PersonName
    last_name: PersonName
    title: JobTitle
    company: CompanyName
    company_domain: CompanyDomain
    industry: str
    location: str
    company_size: CompanySize
    bio: OutsideText | None = Field(
        default=None, description="The person's own profile text, as the lead database has it (outside data)."
    )


class EnrichmentFacts(_EdgeModel):
    """What an enrichment provider knows about one email address; None where it knows nothing."""

    email: EmailStr
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    phone: str | None = None
    linkedin_url: str | None = None
    title: JobTitle | None = None
    seniority: Seniority | None = None
    company: CompanyName | None = None
    company_domain: CompanyDomain | None = None
    employee_count: Annotated[int, Field(ge=1)] | None = None
    company_description: OutsideText | None = Field(
        default=None, description="What the company says about itself, from its public pages (outside data)."
    )
    quality_score: Annotated[int, Field(ge=0, le=100, description="Confidence in these facts, 0-100.")] = 0


class EnrichedContact(EnrichmentFacts):
    """Enrichment facts as served to a caller, with where they came from."""

    cache_hit: bool = Field(description="True when served from the cache at no cost.")
    fetched_at: datetime = Field(description="When the provider was last paid for these facts.")


class EnrichmentReport(_EdgeModel):
    """The result of enriching a batch: one entry per distinct address, and what it cost."""

    contacts: list[EnrichedContact]
    paid_lookups: int = Field(ge=0, description="Addresses looked up at the provider (and paid for).")
    cache_hits: int = Field(ge=0, description="Addresses served from the cache for free.")


class CrmContact(Contact):
    """A contact as stored in the CRM; the email is the key, compared case-insensitively.

    `notes` are the free-text notes people and integrations (web forms, call logs) left on the contact;
    `owner` is the email address of the salesperson who owns the relationship, if anyone does.
    """

    crm_contact_id: str
    notes: OutsideText | None = None
    owner: str | None = None
    created_at: datetime
    updated_at: datetime


class CrmLookup(_EdgeModel):
    """The answer to a CRM lookup by email: `contact` is None when there is no such contact."""

    email: str
    found: bool
    contact: CrmContact | None = None


class CrmSyncFailure(_EdgeModel):
    """One address the CRM refused in an upsert (the rest of the batch went through)."""

    email: str
    error_code: str = Field(
        description="The CRM's short machine-readable reason, e.g. 'VALIDATION_ERROR (INVALID_EMAIL)'; never its "
        "free-text message, which can echo the data sent."
    )


class CrmSyncResult(_EdgeModel):
    """What an upsert did to each distinct address (lower-cased): created, updated, or already up to date.

    `failed` lists the addresses the CRM refused one by one (a real CRM validates each record of a batch on
    its own); it is left out of the dump when empty, so a result without failures reads as it always has.
    """

    created: int = Field(ge=0)
    updated: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    created_emails: list[str]
    updated_emails: list[str]
    unchanged_emails: list[str]
    failed: list[CrmSyncFailure] = Field(
        default_factory=list[CrmSyncFailure],
        exclude_if=lambda failures: not failures,
        description="Addresses the CRM refused, with its reason; none of them was created or updated.",
    )


class Campaign(_EdgeModel):
    """An outreach campaign (a sequence contacts are enrolled in)."""

    campaign_id: str
    name: str
    description: str | None = None
    status: CampaignStatus
    created_at: datetime


class EnrollmentResult(_EdgeModel):
    """What an enrollment did: addresses newly enrolled, and those already in the campaign."""

    campaign_id: str
    enrolled: list[str]
    already_enrolled: list[str]


class Reply(_EdgeModel):
    """One inbound email: a reply to a campaign or to an email we sent. Its text is outside data."""

    reply_id: str
    campaign_id: str | None
    from_email: str
    subject: str
    body: OutsideText
    received_at: datetime


class ReplyList(_EdgeModel):
    """Replies matching a filter, newest first, and how many there are in all."""

    replies: list[Reply]
    total: int = Field(ge=0)


class SentEmail(_EdgeModel):
    """One email handed to the outreach provider for delivery."""

    message_id: str
    to: str
    subject: str
    sent_at: datetime
