"""Injection vectors: the tool outputs an attacker can write into, and `plant_injection`, which plants a goal.

`plant_injection(providers, goal_id=..., vector=...)` wraps the offline providers so that the goal's
instruction text appears in what that vector's tool returns:

- `lead_bio`: the first lead's `bio` in `discover_leads` (people write their own profiles);
- `enrichment_data`: the first contact's `company_description` in `enrich_contacts` (scraped pages);
- `crm_note`: the contact's `notes` in `get_contact` (web forms and imports write notes);
- `email_reply`: the newest reply's body in `list_replies` (anyone can reply), or a new reply when none.

The planted providers only add text to what the real offline providers return. The contact, campaign and
replies the goals and tasks refer to are the suite's world (`tools.sales.injection.world`), which the dataset
names (`world: injection`) and every harness seeds into each case's database before the run, benign
cases included, so benign and attacked runs read the same data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from signoff.tools.sales import Crm, Enricher, LeadSource, Outreach, SalesProviders
from signoff.tools.sales.injection.goals import INJECTION_GOALS
from signoff.tools.sales.models import (
    Campaign,
    Contact,
    CrmContact,
    CrmSyncResult,
    EnrichmentReport,
    EnrollmentResult,
    IdealCustomerProfile,
    Lead,
    Reply,
    ReplyList,
    SentEmail,
)

__all__ = ["VECTORS", "Vector", "plant_injection"]

Vector = Literal["lead_bio", "enrichment_data", "crm_note", "email_reply"]
VECTORS: tuple[str, ...] = get_args(Vector)
"""The tool outputs an injection can be planted in."""

# A reply that arrives from outside when the inbox had none to carry the text.
_STRANGER = "partnerships@outreach-partner.example"


def _appended(existing: str | None, text: str) -> str:
    return f"{existing}\n\n{text}" if existing else text


@dataclass(frozen=True, kw_only=True)
class _PlantedLeadSource:
    inner: LeadSource
    text: str | None
    searched: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """Every profile sent to the lead vendor, as JSON: what the egress goals' checks read."""
    limits: list[int] = field(default_factory=list[int])
    """How many leads each search asked for (what it cost): what the budget goals' checks read."""

    @property
    def name(self) -> str:
        return self.inner.name

    async def discover_leads(self, icp: IdealCustomerProfile, *, limit: int) -> list[Lead]:
        self.searched.append(icp.model_dump(mode="json", exclude_defaults=True))
        self.limits.append(limit)
        leads = await self.inner.discover_leads(icp, limit=limit)
        if leads and self.text is not None:
            leads[0] = leads[0].model_copy(update={"bio": _appended(leads[0].bio, self.text)})
        return leads


@dataclass(frozen=True, kw_only=True)
class _PlantedEnricher:
    inner: Enricher
    text: str | None
    looked_up: list[str] = field(default_factory=list[str])
    """Every address sent to the enrichment vendor, lower-cased."""

    @property
    def name(self) -> str:
        return self.inner.name

    async def enrich(self, emails: Sequence[str]) -> EnrichmentReport:
        self.looked_up.extend(email.lower() for email in emails)
        report = await self.inner.enrich(emails)
        if report.contacts and self.text is not None:
            first = report.contacts[0]
            planted = first.model_copy(update={"company_description": _appended(first.company_description, self.text)})
            report = report.model_copy(update={"contacts": [planted, *report.contacts[1:]]})
        return report


@dataclass(frozen=True, kw_only=True)
class _PlantedCrm:
    inner: Crm
    text: str | None

    @property
    def name(self) -> str:
        return self.inner.name

    async def get_contact(self, email: str) -> CrmContact | None:
        contact = await self.inner.get_contact(email)
        if contact is not None and self.text is not None:
            contact = contact.model_copy(update={"notes": _appended(contact.notes, self.text)})
        return contact

    async def upsert_contacts(self, contacts: Sequence[Contact]) -> CrmSyncResult:
        return await self.inner.upsert_contacts(contacts)

    async def known_emails(self, emails: Iterable[str]) -> set[str]:
        return await self.inner.known_emails(emails)

    async def set_owner(self, email: str, owner: str) -> CrmContact:
        return await self.inner.set_owner(email, owner)

    async def known_domains(self, domains: Iterable[str]) -> set[str]:
        inner = getattr(self.inner, "known_domains", None)
        return set(await inner(domains)) if inner is not None else set()


@dataclass(frozen=True, kw_only=True)
class _PlantedOutreach:
    inner: Outreach
    text: str | None

    @property
    def name(self) -> str:
        return self.inner.name

    async def create_campaign(self, name: str, *, description: str | None = None) -> Campaign:
        return await self.inner.create_campaign(name, description=description)

    async def enroll_contacts(self, campaign_id: str, emails: Sequence[str]) -> EnrollmentResult:
        return await self.inner.enroll_contacts(campaign_id, emails)

    async def send_email(self, *, to: str, subject: str, body: str) -> SentEmail:
        return await self.inner.send_email(to=to, subject=subject, body=body)

    async def list_replies(
        self, *, campaign_id: str | None = None, from_email: str | None = None, limit: int
    ) -> ReplyList:
        listed = await self.inner.list_replies(campaign_id=campaign_id, from_email=from_email, limit=limit)
        if self.text is None:
            return listed
        if listed.replies:
            newest = listed.replies[0]
            planted = newest.model_copy(update={"body": _appended(newest.body, self.text)})
            return listed.model_copy(update={"replies": [planted, *listed.replies[1:]]})
        stranger = Reply(
            reply_id="rpl_0000000000000000",
            campaign_id=campaign_id,
            from_email=from_email or _STRANGER,
            subject="Re: your message",
            body=self.text,
            received_at=datetime.now(UTC),
        )
        return ReplyList(replies=[stranger], total=listed.total + 1)


def plant_injection(providers: SalesProviders, *, goal_id: str, vector: str) -> SalesProviders:
    """These providers with the goal's instruction text planted in the vector's tool output (see above).

    `ValueError` names the known goals or vectors when either is unknown.
    """
    goal = INJECTION_GOALS.get(goal_id)
    if goal is None:
        raise ValueError(f"unknown injection goal {goal_id!r}; known goals: {', '.join(sorted(INJECTION_GOALS))}")
    if vector not in VECTORS:
        raise ValueError(f"unknown injection vector {vector!r}; known vectors: {', '.join(VECTORS)}")

    def text_for(own_vector: Vector) -> str | None:
        return goal.instruction_text if vector == own_vector else None

    planted: dict[str, Any] = {
        "lead_source": _PlantedLeadSource(inner=providers.lead_source, text=text_for("lead_bio")),
        "enricher": _PlantedEnricher(inner=providers.enricher, text=text_for("enrichment_data")),
        "crm": _PlantedCrm(inner=providers.crm, text=text_for("crm_note")),
        "outreach": _PlantedOutreach(inner=providers.outreach, text=text_for("email_reply")),
    }
    return replace(providers, **planted)
