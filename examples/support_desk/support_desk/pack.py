"""The support desk pack: look up tickets, refund (with a hard limit and a person above a threshold), close
tickets, email customers. It uses only Signoff's public API and its plugin contract.

Tickets come from an offline helpdesk that makes one up, deterministically, for any id `T-<digits>`; what
the tools do (refunds, closures, email) is stored in the pack's own tables.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, EmailStr, Field, StringConstraints
from pydantic_ai.exceptions import ModelRetry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import signoff
from support_desk.demo import DEMO_TASKS, support_script
from support_desk.tables import ClosedTicketRow, CustomerEmailRow, RefundRow, support_metadata

__all__ = ["REFUND_APPROVAL_THRESHOLD_USD", "REFUND_LIMIT_USD", "Ticket", "support_pack"]

_HERE = Path(__file__).parent
# A refund above this needs a person: small goodwill refunds are routine, larger ones are a decision.
REFUND_APPROVAL_THRESHOLD_USD = Decimal("50")
# No single refund above this, approved or not: larger amounts go through finance, not the agent.
REFUND_LIMIT_USD = Decimal("500")

TicketId = Annotated[str, StringConstraints(pattern=r"^T-\d{1,8}$"), Field(description="A ticket id, e.g. 'T-1001'.")]
RefundAmount = Annotated[
    Decimal,
    Field(gt=0, le=REFUND_LIMIT_USD, decimal_places=2, description=f"USD, at most {REFUND_LIMIT_USD}."),
]


class Ticket(BaseModel):
    """A support ticket as the helpdesk returns it."""

    ticket_id: str
    customer_email: EmailStr
    subject: str
    order_total_usd: Decimal
    status: str


def _ticket(ticket_id: str, closed: bool) -> Ticket:
    seed = int(hashlib.sha256(ticket_id.encode()).hexdigest()[:8], 16)
    return Ticket(
        ticket_id=ticket_id,
        customer_email=f"customer{seed % 1000}@example.com",
        subject=("Parcel arrived damaged", "Charged twice", "Wrong size delivered")[seed % 3],
        order_total_usd=Decimal(40 + seed % 400),
        status="closed" if closed else "open",
    )


def _tools(sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]) -> list[signoff.ToolSpec]:
    async def get_ticket(ticket_id: TicketId) -> Ticket:
        """Look up a support ticket: the customer, the subject, the order total and whether it is open."""
        async with sessions() as session:
            closed = await session.get(ClosedTicketRow, ticket_id) is not None
        return _ticket(ticket_id, closed)

    async def issue_refund(ticket_id: TicketId, amount_usd: RefundAmount) -> str:
        """Refund the customer of a ticket to their original payment method."""
        ticket = _ticket(ticket_id, closed=False)
        if amount_usd > ticket.order_total_usd:
            raise ModelRetry(f"the order on {ticket_id} totals ${ticket.order_total_usd}; refund at most that")
        refund_id = f"rf_{uuid.uuid4().hex[:16]}"
        async with sessions.begin() as session:
            session.add(RefundRow(refund_id=refund_id, ticket_id=ticket_id, amount_usd=amount_usd, issued_at=clock()))
        return f"refunded ${amount_usd} on {ticket_id} ({refund_id})"

    async def close_ticket(ticket_id: TicketId, resolution: Annotated[str, Field(min_length=1, max_length=500)]) -> str:
        """Close a ticket with a one-line resolution."""
        async with sessions.begin() as session:
            if await session.get(ClosedTicketRow, ticket_id) is None:
                session.add(ClosedTicketRow(ticket_id=ticket_id, resolution=resolution, closed_at=clock()))
        return f"closed {ticket_id}"

    async def email_customer(
        ticket_id: TicketId,
        to: EmailStr,
        subject: Annotated[str, Field(min_length=1, max_length=200)],
        body: Annotated[str, Field(min_length=1, max_length=5000)],
    ) -> str:
        """Email the customer of a ticket."""
        message_id = f"msg_{uuid.uuid4().hex[:16]}"
        async with sessions.begin() as session:
            session.add(
                CustomerEmailRow(
                    message_id=message_id, ticket_id=ticket_id, to_email=to, subject=subject, body=body, sent_at=clock()
                )
            )
        return f"sent {message_id} to {to}"

    def refund_needs_a_person(args: Mapping[str, Any], facts: signoff.ApprovalFacts) -> bool:
        return Decimal(str(args["amount_usd"])) > REFUND_APPROVAL_THRESHOLD_USD

    return [
        signoff.ToolSpec(
            name="get_ticket",
            function=get_ticket,
            description="Look up a support ticket.",
            destructive=False,
            requires_approval=False,
            approval_summary="Look up ticket {{ ticket_id }}",
            idempotent=True,
            untrusted_output=True,  # customers write the subject
        ),
        signoff.ToolSpec(
            name="issue_refund",
            function=issue_refund,
            description="Refund the customer of a ticket.",
            destructive=True,
            requires_approval=refund_needs_a_person,
            approval_summary="Refund ${{ amount_usd }} on ticket {{ ticket_id }}",
        ),
        signoff.ToolSpec(
            name="close_ticket",
            function=close_ticket,
            description="Close a ticket with a resolution.",
            destructive=True,
            requires_approval=False,
            approval_summary="Close ticket {{ ticket_id }}: {{ resolution }}",
            idempotent=True,
        ),
        signoff.ToolSpec(
            name="email_customer",
            function=email_customer,
            description="Email the customer of a ticket.",
            destructive=True,
            requires_approval=True,
            approval_summary='Email {{ to }} about {{ ticket_id }}: "{{ subject }}"\n\n{{ body }}',
            recipients_arg="to",
        ),
    ]


def support_pack() -> signoff.ToolPack:
    """The support desk pack (the `signoff.tool_packs` entry point `support_desk`)."""
    return signoff.ToolPack(
        name="support_desk",
        description="Support desk: tickets, refunds with a limit and an approval threshold, customer email.",
        build=lambda context: signoff.PackTools(tools=_tools(context.session_factory, context.clock)),
        metadata=support_metadata,
        migrations=_HERE / "migrations",
        prompt="support_agent",
        prompt_dir=_HERE / "prompts",
        datasets=_HERE / "datasets",
        offline_script=support_script,
        demo_tasks=DEMO_TASKS,
    )
