"""An offline outreach platform: campaigns, enrollments, an outbox and inbound replies in the database.

Nothing is sent and nothing arrives by itself: `record_reply` stands in for the inbound-mail webhook a
real platform has, so tests and demos can put replies in the inbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.sales.clock import Clock, utc_now
from signoff.tools.sales.models import Campaign, CampaignStatus, EnrollmentResult, Reply, ReplyList, SentEmail
from signoff.tools.sales.providers import InvalidRequestError, NotFoundError
from signoff.tools.sales.tables import CampaignRow, EnrollmentRow, OutboxRow, ReplyRow

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

    async def list_replies(
        self, *, campaign_id: str | None = None, from_email: str | None = None, limit: int
    ) -> ReplyList:
        """Stored replies, newest first, filtered by campaign and/or sender (one of them is required)."""
        if campaign_id is None and from_email is None:
            raise InvalidRequestError("give a campaign_id, an email address, or both", provider=self.name)
        conditions = []
        if campaign_id is not None:
            conditions.append(ReplyRow.campaign_id == campaign_id)
        if from_email is not None:
            conditions.append(ReplyRow.from_email == from_email.lower())
        async with self.sessionmaker() as session:
            total = await session.scalar(select(func.count()).select_from(ReplyRow).where(*conditions))
            rows = await session.scalars(
                select(ReplyRow)
                .where(*conditions)
                .order_by(ReplyRow.received_at.desc(), ReplyRow.reply_id)
                .limit(limit)
            )
            replies = [_reply_of(row) for row in rows]
        return ReplyList(replies=replies, total=int(total or 0))

    async def record_reply(self, *, from_email: str, subject: str, body: str, campaign_id: str | None = None) -> Reply:
        """Store an inbound reply (the offline stand-in for an inbound-mail webhook) and return it."""
        reply = Reply(
            reply_id=f"rpl_{uuid.uuid4().hex[:16]}",
            campaign_id=campaign_id,
            from_email=from_email.lower(),
            subject=subject,
            body=body,
            received_at=self.clock(),
        )
        async with self.sessionmaker.begin() as session:
            session.add(
                ReplyRow(
                    reply_id=reply.reply_id,
                    campaign_id=reply.campaign_id,
                    from_email=reply.from_email,
                    subject=reply.subject,
                    body=reply.body,
                    received_at=reply.received_at,
                )
            )
        return reply


def _reply_of(row: ReplyRow) -> Reply:
    return Reply(
        reply_id=row.reply_id,
        campaign_id=row.campaign_id,
        from_email=row.from_email,
        subject=row.subject,
        body=row.body,
        received_at=row.received_at,
    )
