"""Provider spend: what a tool paid an outside vendor, recorded on the ledger beside the token rows.

A tool (or the provider client it calls) reports each paid call with `charge(...)`: the provider, what
was bought, how many units and the unit price from a dated price table. The guard opens a tab around
every execution it runs (`charge_tab()`) and writes the tab's charges in the same transaction as the
call's outcome, attributed to the run, the tool call and the approval that let it run. Outside a
guarded execution (a bare agent, an unguarded evaluation) there is no tab and a charge is not recorded.

Charges are what was actually paid (a cached enrichment costs nothing); a tool's `unit_cost_usd` stays
the estimate a person sees before approving.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["ProviderCharge", "charge", "charge_tab"]


@dataclass(frozen=True, kw_only=True)
class ProviderCharge:
    """`units` of `item` bought from `provider` at `unit_price_usd`, priced by `price_version`."""

    provider: str
    item: str
    units: int
    unit_price_usd: Decimal
    price_version: str

    def __post_init__(self) -> None:
        if self.units < 0:
            raise ValueError(f"a charge's units cannot be negative, got {self.units!r}")
        if self.unit_price_usd < 0:
            raise ValueError(f"a unit price cannot be negative, got {self.unit_price_usd!r}")

    @property
    def cost_usd(self) -> Decimal:
        """`units` x `unit_price_usd`."""
        return self.unit_price_usd * self.units


_tab: ContextVar[list[ProviderCharge] | None] = ContextVar("signoff_charge_tab", default=None)


def charge(*, provider: str, item: str, units: int, unit_price_usd: Decimal, price_version: str) -> None:
    """Record a paid call on the current execution's tab (nothing to record when `units` is 0)."""
    tab = _tab.get()
    if tab is None or units == 0:
        return
    tab.append(
        ProviderCharge(
            provider=provider, item=item, units=units, unit_price_usd=unit_price_usd, price_version=price_version
        )
    )


@contextlib.contextmanager
def charge_tab() -> Iterator[list[ProviderCharge]]:
    """A fresh tab for one execution: the charges recorded inside the block, in order."""
    tab: list[ProviderCharge] = []
    token = _tab.set(tab)
    try:
        yield tab
    finally:
        _tab.reset(token)
