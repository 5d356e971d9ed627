"""The support desk's tables: what its tools did (refunds, closed tickets, email sent)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, MetaData, Numeric, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

support_metadata = MetaData()


class SupportBase(DeclarativeBase):
    metadata = support_metadata


class RefundRow(SupportBase):
    """One refund issued."""

    __tablename__ = "support_desk_refunds"

    refund_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(40))
    amount_usd: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    issued_at: Mapped[datetime] = mapped_column(DateTime())


class ClosedTicketRow(SupportBase):
    """A ticket that was closed, with its resolution."""

    __tablename__ = "support_desk_closed_tickets"

    ticket_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    resolution: Mapped[str] = mapped_column(Text)
    closed_at: Mapped[datetime] = mapped_column(DateTime())


class CustomerEmailRow(SupportBase):
    """An email sent to a customer."""

    __tablename__ = "support_desk_outbox"

    message_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(40))
    to_email: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(DateTime())
