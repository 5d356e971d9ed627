"""Data access for inbox sessions (`InboxSessionRow`): created at sign-in, found with their key, ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.tables import ApiKeyRow, InboxSessionRow

__all__ = ["add_session", "delete_idle_sessions", "end_session", "end_sessions_of_key", "find_live_session", "touch"]


async def add_session(session: AsyncSession, *, token_hash: str, key_id: str, now: datetime) -> None:
    """A new session for the key `key_id`."""
    session.add(InboxSessionRow(token_hash=token_hash, key_id=key_id, created_at=now, last_seen_at=now))


async def find_live_session(
    session: AsyncSession, *, token_hash: str, seen_since: datetime
) -> tuple[InboxSessionRow, ApiKeyRow] | None:
    """The session with this token hash and its key, while the key is active and the session was used
    at or after `seen_since`; None otherwise (signed out, key revoked, idle too long, never existed)."""
    result = await session.execute(
        select(InboxSessionRow, ApiKeyRow)
        .join(ApiKeyRow, ApiKeyRow.key_id == InboxSessionRow.key_id)
        .where(
            InboxSessionRow.token_hash == token_hash,
            InboxSessionRow.last_seen_at >= seen_since,
            ApiKeyRow.revoked_at.is_(None),
        )
    )
    row = result.one_or_none()
    return None if row is None else (row[0], row[1])


async def touch(session: AsyncSession, *, token_hash: str, now: datetime) -> None:
    """Record that the session was used `now`."""
    await session.execute(
        update(InboxSessionRow).where(InboxSessionRow.token_hash == token_hash).values(last_seen_at=now)
    )


async def end_session(session: AsyncSession, *, token_hash: str) -> None:
    """End one session (sign-out); nothing happens when it is already over."""
    await session.execute(delete(InboxSessionRow).where(InboxSessionRow.token_hash == token_hash))


async def end_sessions_of_key(session: AsyncSession, *, key_id: str) -> None:
    """End every session signed in with this key (it is being revoked)."""
    await session.execute(delete(InboxSessionRow).where(InboxSessionRow.key_id == key_id))


async def delete_idle_sessions(session: AsyncSession, *, seen_before: datetime) -> None:
    """Forget sessions last used before `seen_before`: they are over, and nothing else removes them."""
    await session.execute(delete(InboxSessionRow).where(InboxSessionRow.last_seen_at < seen_before))
