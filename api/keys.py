"""API keys: created once (the key is shown a single time), stored as a sha256, checked in constant time.

Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force, and a slow hash
would only slow every request down.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from sqlalchemy.exc import IntegrityError

from signoff.agent.store import api_keys as key_store
from signoff.agent.store.engine import SessionFactory, read_session_factory
from signoff.agent.store.tables import ApiKeyRow

__all__ = [
    "KEY_PREFIX",
    "ROLES",
    "ApiKeyError",
    "Principal",
    "PrincipalCache",
    "Role",
    "authenticate",
    "create_api_key",
    "revoke_api_key",
]

Role = Literal["requester", "approver", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

# Recognisable in logs and secret scanners (and redacted by Signoff's own log scrubbing, which
# treats `sk-` keys as secrets).
KEY_PREFIX = "sk-signoff-"


class ApiKeyError(ValueError):
    """A key cannot be created or revoked; the message says why."""


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who is calling: the key's name and its roles."""

    name: str
    roles: frozenset[str]

    def has(self, role: Role) -> bool:
        """Whether the principal holds `role`."""
        return role in self.roles


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


async def create_api_key(
    session_factory: SessionFactory,
    *,
    name: str,
    roles: Iterable[str],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[ApiKeyRow, str]:
    """A new key for principal `name` with `roles`; returns the row and the key (shown once, never stored)."""
    name = name.strip()
    role_set = sorted(set(roles))
    if not name or len(name) > 100:
        raise ApiKeyError("a key's name must be 1 to 100 characters")
    unknown = [role for role in role_set if role not in ROLES]
    if unknown or not role_set:
        raise ApiKeyError(f"roles must be some of {', '.join(ROLES)}; got {', '.join(role_set) or 'none'}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        key_id=str(uuid.uuid4()),
        name=name,
        key_hash=_hash(key),
        key_prefix=key[: len(KEY_PREFIX) + 4],
        roles=",".join(role_set),
        created_at=clock(),
    )
    try:
        async with session_factory.begin() as session:
            session.add(row)
    except IntegrityError:
        raise ApiKeyError(f"a key named {name!r} already exists (revoked keys keep their name)") from None
    return row, key


async def revoke_api_key(
    session_factory: SessionFactory, *, name: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> None:
    """Revoke the key of principal `name`."""
    async with session_factory.begin() as session:
        if not await key_store.revoke_key(session, name=name, now=clock()):
            raise ApiKeyError(f"no active key named {name!r}")


class PrincipalCache:
    """Recently authenticated keys (by hash) for a few seconds, so a busy client costs one lookup per TTL.

    Only successes are kept: an unknown key is looked up every time (caching misses would let anyone
    fill memory with random keys). A key revoked by another process (`signoff keys revoke`) keeps working
    here for at most `ttl_seconds`; `forget_all` drops everything at once when this process revokes.
    """

    def __init__(
        self, *, ttl_seconds: float = 5.0, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        """The cached principal of this key hash, if it was authenticated less than the TTL ago."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        expires_at, principal = entry
        if self._clock() >= expires_at:
            del self._entries[digest]
            return None
        return principal

    def put(self, digest: str, principal: Principal) -> None:
        """Remember a successful lookup; when full, the whole cache is dropped (it refills in one TTL)."""
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[digest] = (self._clock() + self.ttl_seconds, principal)

    def forget_all(self) -> None:
        """Drop every entry (after a revocation in this process)."""
        self._entries.clear()


async def authenticate(
    session_factory: SessionFactory, presented: str, *, cache: PrincipalCache | None = None
) -> Principal | None:
    """The principal of an active key, or None. The stored hash is compared in constant time.

    With `cache`, a key authenticated in the last few seconds is not looked up again (see `PrincipalCache`).
    """
    if not presented.startswith(KEY_PREFIX) or len(presented) > 200:
        return None
    digest = _hash(presented)
    if cache is not None and (cached := cache.get(digest)) is not None:
        return cached
    async with read_session_factory(session_factory)() as session:
        row = await key_store.find_active_key(session, key_hash=digest)
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    principal = Principal(name=row.name, roles=frozenset(row.roles.split(",")))
    if cache is not None:
        cache.put(digest, principal)
    return principal
