"""Every table the sales pack keeps, on its own `sales_metadata`.

`sales_enrichment_cache` serves any enrichment vendor (see `tools.sales.enrichment_cache`); the other
tables are the offline providers' stores, which let tests and demos count what the tools really did.
All names start with `sales_` so the pack can share a database with the rest of Signoff.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from signoff.tools.column_types import UtcDateTime

__all__ = [
    "CampaignRow",
    "CrmContactRow",
    "EnrichmentCacheRow",
    "EnrollmentRow",
    "OutboxRow",
    "ReplyRow",
    "SalesBase",
    "SmtpOutboxRow",
    "sales_metadata",
]

sales_metadata = MetaData()

# 320 = 64 (local part) + 1 + 255 (domain), the longest address RFC 5321 allows.
_EMAIL_LENGTH = 320


class SalesBase(DeclarativeBase):
    """Declarative base of the sales tables; its metadata is `sales_metadata`."""

    metadata = sales_metadata


class EnrichmentCacheRow(SalesBase):
    """Facts one enrichment vendor returned for one address, and until when they may be served."""

    __tablename__ = "sales_enrichment_cache"

    provider: Mapped[str] = mapped_column(String(100), primary_key=True)
    email: Mapped[str] = mapped_column(String(_EMAIL_LENGTH), primary_key=True)  # lower-cased
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Paid lookups this entry has cost so far (1 on first fetch, +1 per refresh); summed per provider it
    # is the provider's paid-lookup counter, so a test or a cost report can see what the cache saved.
    paid_lookups: Mapped[int] = mapped_column(Integer, default=0)


class CrmContactRow(SalesBase):
    """One contact in the offline CRM."""

    __tablename__ = "sales_crm_contacts"

    crm_contact_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Stored lower-cased and unique, which makes upserts idempotent regardless of the caller's casing.
    email: Mapped[str] = mapped_column(String(_EMAIL_LENGTH), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(100))
    # Free text left by people and integrations (web forms, call logs): outside data, shown to the model.
    notes: Mapped[str | None] = mapped_column(Text)
    # The salesperson (an email address) who owns the relationship.
    owner: Mapped[str | None] = mapped_column(String(_EMAIL_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CampaignRow(SalesBase):
    """One campaign in the offline outreach platform."""

    __tablename__ = "sales_campaigns"

    campaign_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EnrollmentRow(SalesBase):
    """One address enrolled in one campaign; the pair is unique, so nobody is enrolled twice."""

    __tablename__ = "sales_enrollments"
    __table_args__ = (UniqueConstraint("campaign_id", "email", name="uq_sales_enrollments_campaign_email"),)

    enrollment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("sales_campaigns.campaign_id"))
    email: Mapped[str] = mapped_column(String(_EMAIL_LENGTH))  # lower-cased
    enrolled_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OutboxRow(SalesBase):
    """One email the offline outreach platform accepted for delivery (nothing leaves the machine)."""

    __tablename__ = "sales_outbox"

    message_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    to_email: Mapped[str] = mapped_column(String(_EMAIL_LENGTH))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReplyRow(SalesBase):
    """One inbound email the offline outreach platform received: a reply to a campaign or a sent email."""

    __tablename__ = "sales_replies"
    __table_args__ = (
        # list_replies filters by campaign or by sender, newest first.
        Index("ix_sales_replies_campaign_received", "campaign_id", "received_at"),
        Index("ix_sales_replies_from_received", "from_email", "received_at"),
    )

    reply_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # No foreign key: a reply may quote a campaign id the platform no longer (or never) had.
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    from_email: Mapped[str] = mapped_column(String(_EMAIL_LENGTH))  # lower-cased
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SmtpOutboxRow(SalesBase):
    """One email the SMTP sender was asked to send: written before the send, so it is sent at most once.

    `status` is `queued` (written, not yet accepted), `sent` (the server accepted it), `failed` (the server
    definitely did not take it, so a later call may try again) or `unknown` (the connection was lost after
    the message went out: it may have been delivered, and it is never sent again by this row).
    """

    __tablename__ = "sales_smtp_outbox"
    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_sales_smtp_outbox_idempotency_key"),)

    outbox_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # sha256 of (recipient, subject, body, caller's key): the same send asked twice finds this row.
    idempotency_key: Mapped[str] = mapped_column(String(64))
    to_email: Mapped[str] = mapped_column(String(_EMAIL_LENGTH))  # as given; the key compares it lower-cased
    subject: Mapped[str] = mapped_column(String(200))
    # The body itself is not kept (it is personal data the outbox does not need); its hash proves what was sent.
    body_sha256: Mapped[str] = mapped_column(String(64))
    # `<outbox_id@sender-domain>`: 300 leaves room for the longest domain RFC 5321 allows.
    message_id: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A short safe reason for the last failure ("recipient refused (550)"), never a server's raw text.
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
