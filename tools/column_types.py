"""Column types that behave the same on SQLite and PostgreSQL, for every package that stores rows.

They live in `tools/`, the lowest layer, so that the tool packs' providers and the agent's store (which
sits above the tools) share one definition.

SQLite has no timezone-aware timestamps and stores NUMERIC as a float, so money and time get types of
their own: timestamps are stored as naive UTC and always come back UTC-aware; money is stored as an
integer count of pico-dollars, which keeps sums exact in SQL on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["PICO_PER_USD", "PicoUsd", "UtcDateTime"]

# 1e-12 USD: fine enough for the smallest per-token prices (tenths of a cent per million tokens) to
# multiply out to whole units, and a signed 64-bit column still holds more than nine million dollars.
PICO_PER_USD = Decimal(10) ** 12


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and returned UTC-aware; naive input is refused."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class PicoUsd(TypeDecorator[Decimal]):
    """US dollars as an exact Decimal, stored as integer pico-dollars (rounded half-even past 1e-12)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * PICO_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)) / PICO_PER_USD
