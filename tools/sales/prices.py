"""The sales pack's dated price table (prices.toml): what each vendor charges per unit.

`SALES_PRICES.charge(provider, item, units)` records a paid call on the current guarded execution's tab
(see `signoff.tools.charges`) when the provider has a price for the item; `SALES_PRICES.estimate(item)`
is the highest price of an item over all vendors, the tools' `unit_cost_usd`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from signoff.tools.charges import charge

__all__ = ["SALES_PRICES", "PriceTable", "load_price_table"]

_PRICES_FILE = Path(__file__).with_name("prices.toml")


@dataclass(frozen=True, kw_only=True)
class PriceTable:
    """Unit prices per provider and item, valid from `version` (a date)."""

    version: str
    prices: dict[str, dict[str, Decimal]]

    def price(self, provider: str, item: str) -> Decimal | None:
        """What `provider` charges for one `item`, or None when it charges nothing (offline, or not priced)."""
        return self.prices.get(provider, {}).get(item)

    def estimate(self, item: str) -> Decimal:
        """The highest price of `item` over all providers (0 when none sells it)."""
        return max((items[item] for items in self.prices.values() if item in items), default=Decimal("0"))

    def charge(self, provider: str, item: str, units: int) -> None:
        """Record `units` of `item` bought from `provider` on the ledger (nothing when it is not priced)."""
        unit_price = self.price(provider, item)
        if unit_price is not None:
            charge(provider=provider, item=item, units=units, unit_price_usd=unit_price, price_version=self.version)


def load_price_table(path: Path = _PRICES_FILE) -> PriceTable:
    """The price table in `path`; `ValueError` naming the entry when a price is not a non-negative number."""
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    version = data.pop("version", None)
    if not isinstance(version, str) or not version:
        raise ValueError(f"{path}: the price table needs a `version` (the date its prices took effect)")
    prices: dict[str, dict[str, Decimal]] = {}
    for provider, items in data.items():
        if not isinstance(items, dict):
            raise ValueError(f'{path}: [{provider}] must be a table of item = "price"')
        prices[provider] = {}
        for item, value in items.items():
            try:
                amount = Decimal(str(value))
            except InvalidOperation:
                raise ValueError(f"{path}: {provider}.{item} = {value!r} is not a price") from None
            if not amount.is_finite() or amount < 0:
                raise ValueError(f"{path}: {provider}.{item} = {value!r} must be a non-negative number")
            prices[provider][item] = amount
    return PriceTable(version=version, prices=prices)


SALES_PRICES = load_price_table()
"""The pack's prices, read once at import (a broken file fails loudly when the pack loads)."""
