"""What a waiting CRM call would overwrite: the lines an approver reads before the summary.

A sync's summary names the addresses; what it does to contacts that exist is in the fields: a title, a
company or a name replaced. `describe_changes` compares the call's arguments with what the CRM holds now,
field by field, so the approval says so ("ana@acme.io: title 'COO' -> 'CTO'"). New contacts and fields the
call leaves out (they keep their stored value) are not changes of stored data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from signoff.tools.packs import DescribeChanges
from signoff.tools.sales.providers import Crm

__all__ = ["changes_describer"]

_SYNCED_FIELDS = ("first_name", "last_name", "company", "title")


def changes_describer(crm: Crm) -> DescribeChanges:
    """The sales pack's `PackTools.describe_changes`, over its CRM."""

    async def describe(tool_name: str, args: Mapping[str, Any]) -> list[str]:
        if tool_name == "sync_contacts_to_crm":
            return await _sync_changes(crm, args.get("contacts") or [])
        if tool_name == "assign_contact_owner":
            contact = await crm.get_contact(str(args.get("email", "")))
            owner = str(args.get("owner", "")).lower()
            if contact is not None and (contact.owner or "") != owner:
                return [f"{contact.email}: owner {contact.owner or '(none)'!r} -> {owner!r}"]
        return []

    return describe


async def _sync_changes(crm: Crm, contacts: list[Any]) -> list[str]:
    lines: list[str] = []
    for contact in contacts:
        if not isinstance(contact, Mapping):
            continue
        stored = await crm.get_contact(str(contact.get("email", "")))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        if stored is None:
            continue  # a new contact: nothing stored is overwritten
        changed = [
            f"{field} {getattr(stored, field)!r} -> {contact[field]!r}"
            for field in _SYNCED_FIELDS
            if contact.get(field) is not None and contact[field] != getattr(stored, field)  # pyright: ignore[reportUnknownMemberType]
        ]
        if changed:
            lines.append(f"{stored.email}: " + ", ".join(changed))
    return lines
