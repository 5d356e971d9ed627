"""The real `Outreach` provider: campaigns, enrollments and replies at Lemlist, single emails over SMTP.

It has the offline platform's semantics (`tools.sales.offline.outreach`) wherever Lemlist allows:

- `create_campaign` creates a Lemlist campaign each call. Lemlist keeps no description, so the result
  has none, and its status is Lemlist's, mapped: `running` is `active` (Lemlist reports a new campaign
  as running; it sends nothing until leads are added and launched), `paused`, `ended`, `archived` and
  `errors` are `paused` (not sending), `draft` is `draft`.
- `enroll_contacts` checks the campaign first (`NotFoundError` for an unknown one, before any lead is
  added), then adds each distinct address (lower-cased) once; those already in the campaign are
  reported as `already_enrolled`. An add whose answer was lost is checked at Lemlist before it is sent
  again (`LemlistClient.add_lead`).
- `send_email` goes through the SMTP sender's outbox: a stable Message-ID, one-click unsubscribe
  headers, and never a second send of the same email.
- `list_replies` reads Lemlist's reply activities, newest first; `total` counts every match read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from signoff.tools.sales.clock import Clock, utc_now
from signoff.tools.sales.errors import InvalidRequestError
from signoff.tools.sales.models import Campaign, CampaignStatus, EnrollmentResult, Reply, ReplyList, SentEmail
from signoff.tools.sales.vendors.lemlist import LemlistCampaign, LemlistClient, LemlistReply
from signoff.tools.sales.vendors.smtp import SmtpSender

__all__ = ["LemlistSmtpOutreach", "campaign_status_of"]

# Lemlist's campaign states, as the tools' three: anything that is not sending is `paused`.
_STATUS_OF_STATE: dict[str, CampaignStatus] = {
    "running": "active",
    "draft": "draft",
    "paused": "paused",
    "ended": "paused",
    "archived": "paused",
    "errors": "paused",
}
# `Reply.body` holds at most this much (the models' bound on outside text).
_MAX_REPLY_CHARS = 10_000
_MAX_SUBJECT_CHARS = 200


def campaign_status_of(state: str | None) -> CampaignStatus:
    """The tools' status for a Lemlist campaign state (`draft` when Lemlist gives none)."""
    if state is None:
        return "draft"
    return _STATUS_OF_STATE.get(state.lower(), "paused")


@dataclass(frozen=True, kw_only=True)
class LemlistSmtpOutreach:
    """An `Outreach` provider: Lemlist for campaigns, enrollments and replies; SMTP for single emails."""

    lemlist: LemlistClient
    smtp: SmtpSender
    clock: Clock = utc_now
    name: str = "lemlist"

    async def create_campaign(self, name: str, *, description: str | None = None) -> Campaign:
        """A new Lemlist campaign (`description` is not kept: Lemlist campaigns have none)."""
        return self._campaign_of(await self.lemlist.create_campaign(name))

    async def enroll_contacts(self, campaign_id: str, emails: Sequence[str]) -> EnrollmentResult:
        """Enroll each distinct address once; `NotFoundError` for an unknown campaign, before any add."""
        wanted = list(dict.fromkeys(email.strip().lower() for email in emails))
        await self.lemlist.get_campaign(campaign_id)
        enrolled: list[str] = []
        already: list[str] = []
        for email in wanted:
            added = await self.lemlist.add_lead(campaign_id, email)
            (enrolled if added.outcome == "enrolled" else already).append(added.email)
        return EnrollmentResult(campaign_id=campaign_id, enrolled=enrolled, already_enrolled=already)

    async def send_email(self, *, to: str, subject: str, body: str) -> SentEmail:
        """Send one plain-text email through the SMTP outbox (the same email twice is sent once)."""
        return await self.smtp.send(to=to, subject=subject, body=body)

    async def list_replies(
        self, *, campaign_id: str | None = None, from_email: str | None = None, limit: int
    ) -> ReplyList:
        """Replies, newest first, to one campaign and/or from one address (one of them is required)."""
        if campaign_id is None and from_email is None:
            raise InvalidRequestError("give a campaign_id, an email address, or both", provider=self.name)
        replies = await self.lemlist.list_replies(campaign_id=campaign_id, lead_email=from_email)
        return ReplyList(replies=[_reply_of(reply) for reply in replies[:limit]], total=len(replies))

    def _campaign_of(self, campaign: LemlistCampaign) -> Campaign:
        return Campaign(
            campaign_id=campaign.campaign_id,
            name=campaign.name,
            description=None,
            status=campaign_status_of(campaign.state),
            # Lemlist's older answers may omit the creation time; the time it was read is the closest.
            created_at=campaign.created_at or self.clock(),
        )


def _reply_of(reply: LemlistReply) -> Reply:
    return Reply(
        reply_id=reply.activity_id,
        campaign_id=reply.campaign_id,
        from_email=reply.lead_email,
        subject=reply.subject[:_MAX_SUBJECT_CHARS],
        body=reply.text[:_MAX_REPLY_CHARS],
        received_at=reply.created_at,
    )
