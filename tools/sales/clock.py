"""Time for the sales providers: injected as a `Clock`, so tests can move it (cache expiry, timestamps)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utc_now"]

Clock = Callable[[], datetime]
"""Returns the current time, UTC-aware."""


def utc_now() -> datetime:
    """The current time, UTC-aware: the default clock of the sales providers."""
    return datetime.now(UTC)
