"""Data access for API keys (hashed; the key itself is never stored)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.engine import rows_affected
from signoff.agent.store.tables import ApiKeyRow

__all__ = ["find_active_key", "get_key_by_name", "list_keys", "revoke_key"]


async def find_active_key(session: AsyncSession, *, key_hash: str) -> ApiKeyRow | None:
    """The unrevoked key with this hash, or None."""
    result = await session.execute(
        select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None))
    )
    return result.scalar_one_or_none()


async def get_key_by_name(session: AsyncSession, *, name: str) -> ApiKeyRow | None:
    """The key of that principal name, revoked or not."""
    return (await session.execute(select(ApiKeyRow).where(ApiKeyRow.name == name))).scalar_one_or_none()


async def list_keys(session: AsyncSession) -> list[ApiKeyRow]:
    """All keys, by name."""
    return list((await session.execute(select(ApiKeyRow).order_by(ApiKeyRow.name))).scalars())


async def revoke_key(session: AsyncSession, *, name: str, now: datetime) -> bool:
    """Revoke the key of that name; False when there is none, or it is already revoked."""
    result = await session.execute(
        update(ApiKeyRow).where(ApiKeyRow.name == name, ApiKeyRow.revoked_at.is_(None)).values(revoked_at=now)
    )
    return rows_affected(result) == 1
