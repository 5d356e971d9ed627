"""An offline outreach platform: campaigns, enrollments and an outbox in the database; nothing is sent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tools.sales.clock import Clock, utc_now
from tools.sales.models import Campaign, CampaignStatus, EnrollmentResult, SentEmail
from tools.sales.providers import NotFoundError
from tools.sales.tables import CampaignRow, EnrollmentRow, OutboxRow

__all__ = ["OfflineOutreach"]

# New campaigns start as drafts: the offline platform never sends on a schedule, only through send_email.
_NEW_CAMPAIGN_STATUS: CampaignStatus = "draft"


@dataclass(frozen=True, kw_only=True)
class OfflineOutreach:
    """An `Outreach` provider backed by the database, so tests can count campaigns, enrollments and emails."""

    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock = utc_now
    name: str = "offline-outreach"

    async def create_campaign(self, name: str, *, description: str | None = None) -> Campaign:
        """A new draft campaign with a fresh id."""
        campaign = Campaign(
            campaign_id=f"cmp_{uuid.uuid4().hex[:16]}",
            name=name,
            description=description,
            status=_NEW_CAMPAIGN_STATUS,
            created_at=self.clock(),
        )
        async with self.sessionmaker.begin() as session:
            session.add(
                CampaignRow(
                    campaign_id=campaign.campaign_id,
                    name=campaign.name,
                    description=campaign.description,
                    status=campaign.status,
                    created_at=campaign.created_at,
                )
            )
        return campaign

    async def enroll_contacts(self, campaign_id: str, emails: Sequence[str]) -> EnrollmentResult:
        """Enroll each distinct address (lower-cased) once; raises `NotFoundError` for an unknown campaign."""
        wanted = list(dict.fromkeys(email.lower() for email in emails))
        now = self.clock()
        async with self.sessionmaker.begin() as session:
            if await session.get(CampaignRow, campaign_id) is None:
                raise NotFoundError(f"there is no campaign with id {campaign_id!r}", provider=self.name)
            already = set(
                await session.scalars(
                    select(EnrollmentRow.email).where(
                        EnrollmentRow.campaign_id == campaign_id, EnrollmentRow.email.in_(wanted)
                    )
                )
            )
            enrolled = [email for email in wanted if email not in already]
            session.add_all(EnrollmentRow(campaign_id=campaign_id, email=email, enrolled_at=now) for email in enrolled)
        return EnrollmentResult(
            campaign_id=campaign_id,
            enrolled=enrolled,
            already_enrolled=[email for email in wanted if email in already],
        )

    async def send_email(self, *, to: str, subject: str, body: str) -> SentEmail:
        """Store the email in the outbox and return its message id."""
        sent = SentEmail(message_id=f"msg_{uuid.uuid4().hex}", to=to, subject=subject, sent_at=self.clock())
        async with self.sessionmaker.begin() as session:
            session.add(
                OutboxRow(message_id=sent.message_id, to_email=to, subject=subject, body=body, sent_at=sent.sent_at)
            )
        return sent
