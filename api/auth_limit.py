"""Failed authentications are limited per client address, in the API and the inbox sign-in.

Each address has a token bucket of `burst` failures that refills at `per_minute / 60` a second. A failed
authentication (a key presented and not accepted) takes a token; a success takes none. Once an address
has no token left, its requests that present a key get 429 with `Retry-After` *before* the key is looked
up, until a token refills: a client guessing keys, or a script stuck on a revoked one, then costs no
database lookups and cannot try faster than the rate. Clients that do not fail are never limited.

The address is the connection's peer (`signoff serve` does not trust forwarded headers), so behind a
reverse proxy every client shares the proxy's address: limit failed authentication at the proxy then,
or raise the budget. Buckets live in this process, like the per-key rate limits (`api.rate_limit`), and
at most `max_clients` are kept: the longest-quiet one is dropped to make room.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

__all__ = ["AuthFailureLimiter", "client_address"]

# A busy deployment sees far fewer distinct failing addresses than this at once; a flood from more
# addresses evicts the quietest buckets, so memory stays bounded (each bucket is a few hundred bytes).
DEFAULT_MAX_CLIENTS = 10_000


@dataclass(kw_only=True)
class _Bucket:
    tokens: float
    updated_at: float


def client_address(request: Request) -> str:
    """The address a request came from (its connection's peer), or "unknown" when the server gives none."""
    return request.client.host if request.client is not None else "unknown"


class AuthFailureLimiter:
    """Token buckets of failed authentications, keyed by client address.

    Neither method awaits, so each is atomic on the event loop.
    """

    def __init__(
        self,
        *,
        per_minute: int,
        burst: int,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1 or burst < 1 or max_clients < 1:
            raise ValueError(
                f"per_minute, burst and max_clients must be at least 1; got {per_minute!r}, {burst!r}, {max_clients!r}"
            )
        self.per_minute = per_minute
        self.burst = burst
        self._rate_per_second = per_minute / 60
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def retry_after(self, client: str) -> int | None:
        """None if `client` may try to authenticate now; otherwise the whole seconds (at least 1) until it may."""
        bucket = self._refilled(client)
        if bucket is None or bucket.tokens >= 1:
            return None
        return max(1, math.ceil((1 - bucket.tokens) / self._rate_per_second))

    def record_failure(self, client: str) -> None:
        """Take a token from `client`'s bucket for one failed authentication."""
        bucket = self._refilled(client)
        if bucket is None:
            if len(self._buckets) >= self._max_clients:
                self._buckets.popitem(last=False)
            bucket = self._buckets[client] = _Bucket(tokens=self.burst, updated_at=self._clock())
        bucket.tokens = max(0.0, bucket.tokens - 1)
        self._buckets.move_to_end(client)

    def _refilled(self, client: str) -> _Bucket | None:
        bucket = self._buckets.get(client)
        if bucket is None:
            return None
        now = self._clock()
        bucket.tokens = min(self.burst, bucket.tokens + max(0.0, now - bucket.updated_at) * self._rate_per_second)
        bucket.updated_at = now
        if bucket.tokens >= self.burst:
            del self._buckets[client]  # a full bucket is the same as none
            return None
        return bucket
