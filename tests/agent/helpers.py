"""Helpers shared by the agent tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from signoff.agent.store.engine import SessionFactory
from signoff.tools.sales.tables import CrmContactRow


def contacts(count: int, *, start: int = 0) -> list[dict[str, Any]]:
    """`count` valid CRM contacts with distinct addresses."""
    return [
        {"email": f"person{i}@acme.example", "first_name": f"First{i}", "last_name": f"Last{i}", "company": "Acme"}
        for i in range(start, start + count)
    ]


async def crm_contact_count(session_factory: SessionFactory) -> int:
    """How many contacts the offline CRM holds."""
    async with session_factory() as session:
        return int((await session.execute(select(func.count()).select_from(CrmContactRow))).scalar_one())
