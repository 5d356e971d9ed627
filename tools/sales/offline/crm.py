"""An offline CRM: contacts stored in `sales_crm_contacts`, keyed by lower-cased email."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.sales.clock import Clock, utc_now
from signoff.tools.sales.models import Contact, CrmContact, CrmSyncResult
from signoff.tools.sales.providers import NotFoundError
from signoff.tools.sales.tables import CrmContactRow

__all__ = ["OfflineCrm"]


@dataclass(frozen=True, kw_only=True)
class OfflineCrm:
    """A `Crm` backed by the database, so tests can count the contacts a run created."""

    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock = utc_now
    name: str = "offline-crm"

    async def get_contact(self, email: str) -> CrmContact | None:
        """The contact with this address (any letter case), or None."""
        async with self.sessionmaker() as session:
            row = await session.scalar(select(CrmContactRow).where(CrmContactRow.email == email.lower()))
            return _contact_of(row) if row is not None else None

    async def upsert_contacts(self, contacts: Sequence[Contact]) -> CrmSyncResult:
        """Create new contacts, update changed ones, leave identical ones alone.

        A field given as None keeps the stored value (syncing a lead without a title must not erase the
        title the CRM has). When one address appears twice in the batch, the later entry wins.
        """
        latest = {contact.email.lower(): contact for contact in contacts}
        created: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        now = self.clock()
        async with self.sessionmaker.begin() as session:
            stored = {
                row.email: row
                for row in await session.scalars(select(CrmContactRow).where(CrmContactRow.email.in_(latest)))
            }
            for email, contact in latest.items():
                row = stored.get(email)
                if row is None:
                    session.add(
                        CrmContactRow(
                            crm_contact_id=f"crm_{uuid.uuid4().hex[:16]}",
                            email=email,
                            first_name=contact.first_name,
                            last_name=contact.last_name,
                            company=contact.company,
                            title=contact.title,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    created.append(email)
                elif _apply_changes(row, contact):
                    row.updated_at = now
                    updated.append(email)
                else:
                    unchanged.append(email)
        return CrmSyncResult(
            created=len(created),
            updated=len(updated),
            unchanged=len(unchanged),
            created_emails=created,
            updated_emails=updated,
            unchanged_emails=unchanged,
        )

    async def known_emails(self, emails: Iterable[str]) -> set[str]:
        """Which of these addresses are CRM contacts, lower-cased."""
        wanted = {email.lower() for email in emails}
        if not wanted:
            return set()
        async with self.sessionmaker() as session:
            found = await session.scalars(select(CrmContactRow.email).where(CrmContactRow.email.in_(wanted)))
            return set(found)

    async def known_domains(self, domains: Iterable[str]) -> set[str]:
        """Which of these domains (lower-cased) at least one contact's address is at (`CrmDomains`)."""
        wanted = sorted({domain.lower() for domain in domains if domain})
        known: set[str] = set()
        async with self.sessionmaker() as session:
            for domain in wanted:
                # A suffix match cannot use the email index: one probe per domain, stopping at the first match,
                # is cheap for the handful of domains an approval names.
                at_domain = CrmContactRow.email.endswith(f"@{domain}", autoescape=True)
                if await session.scalar(select(CrmContactRow.crm_contact_id).where(at_domain).limit(1)) is not None:
                    known.add(domain)
        return known

    async def set_owner(self, email: str, owner: str) -> CrmContact:
        """Make `owner` (lower-cased) the contact's owner; `NotFoundError` when there is no such contact."""
        async with self.sessionmaker.begin() as session:
            row = await session.scalar(select(CrmContactRow).where(CrmContactRow.email == email.lower()))
            if row is None:
                raise NotFoundError(f"there is no contact with the address {email.lower()!r}", provider=self.name)
            if row.owner != owner.lower():
                row.owner = owner.lower()
                row.updated_at = self.clock()
            return _contact_of(row)

    async def add_note(self, email: str, note: str) -> CrmContact:
        """Append a note to the contact's notes, as a web form or a call log would (not a tool: no model
        writes notes). `NotFoundError` when there is no such contact."""
        async with self.sessionmaker.begin() as session:
            row = await session.scalar(select(CrmContactRow).where(CrmContactRow.email == email.lower()))
            if row is None:
                raise NotFoundError(f"there is no contact with the address {email.lower()!r}", provider=self.name)
            row.notes = note if not row.notes else f"{row.notes}\n{note}"
            row.updated_at = self.clock()
            return _contact_of(row)


def _apply_changes(row: CrmContactRow, contact: Contact) -> bool:
    """Copy the contact's given fields onto the row; True when anything changed."""
    changes = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "company": contact.company,
        "title": contact.title,
    }
    changed = False
    for column, value in changes.items():
        if value is not None and getattr(row, column) != value:
            setattr(row, column, value)
            changed = True
    return changed


def _contact_of(row: CrmContactRow) -> CrmContact:
    return CrmContact(
        crm_contact_id=row.crm_contact_id,
        email=row.email,
        first_name=row.first_name,
        last_name=row.last_name,
        company=row.company,
        title=row.title,
        notes=row.notes,
        owner=row.owner,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
