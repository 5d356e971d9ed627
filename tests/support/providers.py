"""Provider wrappers that count calls, injected through `SalesProviders` (no patching of internals)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from signoff.tools.sales import Crm
from signoff.tools.sales.models import Contact, CrmContact, CrmSyncResult


@dataclass
class CountingCrm:
    """A CRM that forwards to a real one and counts upserts (each is one side effect)."""

    inner: Crm
    upsert_calls: list[list[str]] = field(default_factory=list[list[str]])

    async def get_contact(self, email: str) -> CrmContact | None:
        return await self.inner.get_contact(email)

    async def upsert_contacts(self, contacts: Sequence[Contact]) -> CrmSyncResult:
        self.upsert_calls.append([c.email for c in contacts])
        return await self.inner.upsert_contacts(contacts)

    async def known_emails(self, emails: Iterable[str]) -> set[str]:
        return await self.inner.known_emails(emails)


@dataclass
class CrmThatTimesOutAfterWriting:
    """A CRM whose upserts are written, and then the answer never comes back (a read timeout): the call's
    outcome is unknown to Signoff, though the contacts are in the CRM."""

    inner: Crm

    @property
    def name(self) -> str:
        return self.inner.name

    async def get_contact(self, email: str) -> CrmContact | None:
        return await self.inner.get_contact(email)

    async def upsert_contacts(self, contacts: Sequence[Contact]) -> CrmSyncResult:
        await self.inner.upsert_contacts(contacts)
        raise TimeoutError("the CRM did not answer in time")

    async def known_emails(self, emails: Iterable[str]) -> set[str]:
        return await self.inner.known_emails(emails)

    async def set_owner(self, email: str, owner: str) -> CrmContact:
        return await self.inner.set_owner(email, owner)
