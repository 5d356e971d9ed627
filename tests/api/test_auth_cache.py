"""The short cache of authenticated keys: one lookup per key per TTL, revocation felt within the TTL."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.agent.store.engine import SessionFactory
from signoff.api.keys import KEY_PREFIX, Principal, PrincipalCache, authenticate, create_api_key, revoke_api_key


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def count_key_lookups(engine: AsyncEngine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement: str, *_args) -> None:
        if "FROM api_keys" in statement:
            seen.append(statement)

    return seen


async def test_a_cached_key_is_not_looked_up_again_until_its_ttl_ends(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    _, key = await create_api_key(session_factory, name="alice", roles=["requester"])
    ticker = Ticker()
    cache = PrincipalCache(ttl_seconds=5, clock=ticker)
    lookups = count_key_lookups(engine)

    alice = Principal(name="alice", roles=frozenset({"requester"}))
    assert await authenticate(session_factory, key, cache=cache) == alice
    assert await authenticate(session_factory, key, cache=cache) == alice
    assert len(lookups) == 1

    # Revoked elsewhere (the CLI, another process): still admitted until the entry's TTL ends, then not.
    await revoke_api_key(session_factory, name="alice")
    ticker.now += 4.9
    assert await authenticate(session_factory, key, cache=cache) == alice
    ticker.now += 0.2
    assert await authenticate(session_factory, key, cache=cache) is None
    assert len(lookups) == 2


async def test_unknown_keys_are_never_cached(engine: AsyncEngine, session_factory: SessionFactory) -> None:
    cache = PrincipalCache(ttl_seconds=60, clock=Ticker())
    lookups = count_key_lookups(engine)
    unknown = KEY_PREFIX + "x" * 43
    assert await authenticate(session_factory, unknown, cache=cache) is None
    assert await authenticate(session_factory, unknown, cache=cache) is None
    assert len(lookups) == 2


def test_a_full_cache_starts_over_instead_of_growing() -> None:
    cache = PrincipalCache(ttl_seconds=60, max_entries=2, clock=Ticker())
    principal = Principal(name="p", roles=frozenset({"admin"}))
    for digest in ("a", "b", "c"):
        cache.put(digest, principal)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, principal)
    cache.forget_all()
    assert cache.get("c") is None
