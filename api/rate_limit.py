"""Per-key rate limits: a token bucket for each principal (API key name), kept in this process.

Each principal's bucket holds up to `burst` tokens and refills at `per_minute / 60` tokens a second; a
request takes one token or is refused with the seconds until the next one (HTTP 429 with `Retry-After`).

The buckets live in memory: with several API replicas each replica limits separately, so a key may make
up to (replicas x the configured rate) requests in total. A shared limit would need the database or a
cache in front; per-replica limits are enough to stop a runaway client loop, which is their job.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter"]


@dataclass(kw_only=True)
class _Bucket:
    tokens: float
    updated_at: float


class RateLimiter:
    """Token buckets keyed by principal name.

    The number of buckets is bounded by the number of API keys (only authenticated principals get one),
    so nothing is evicted. `acquire` never awaits, so it is atomic on the event loop.
    """

    def __init__(self, *, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1 or burst < 1:
            raise ValueError(f"per_minute and burst must be at least 1; got {per_minute!r} and {burst!r}")
        self.per_minute = per_minute
        self.burst = burst
        self._rate_per_second = per_minute / 60
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, principal_name: str) -> int | None:
        """Take a token for `principal_name`: None if the request may go ahead, otherwise the whole
        seconds (at least 1) until it may."""
        now = self._clock()
        bucket = self._buckets.get(principal_name)
        if bucket is None:
            bucket = self._buckets[principal_name] = _Bucket(tokens=self.burst, updated_at=now)
        elapsed = max(0.0, now - bucket.updated_at)
        bucket.tokens = min(self.burst, bucket.tokens + elapsed * self._rate_per_second)
        bucket.updated_at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return max(1, math.ceil((1 - bucket.tokens) / self._rate_per_second))
