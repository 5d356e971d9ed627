"""Per-token rates from genai-prices' bundled data, for figures computed by hand.

The ledger prices each response through pydantic-ai (`ModelResponse.cost()`, see `agent.ledger`). This
module reads the same price data directly, so that tests and benchmarks can compute what a run should
cost, or could at best cost, without going through the code they check.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from genai_prices.data import providers
from genai_prices.types import ModelPrice, TieredPrices

__all__ = ["TokenRates", "token_rates"]

_PER_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, kw_only=True)
class TokenRates:
    """USD per token of each kind, at the base tier (below any long-context threshold)."""

    input: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    output: Decimal


def token_rates(model_id: str, *, provider_id: str = "anthropic") -> TokenRates:
    """The per-token rates of `model_id` in genai-prices' bundled data.

    Raises LookupError when the provider or model is unknown, or has no flat price for one of the kinds.
    """
    provider = next((each for each in providers if each.id == provider_id), None)
    model = next((each for each in provider.models if each.id == model_id), None) if provider else None
    if model is None or not isinstance(model.prices, ModelPrice):
        raise LookupError(f"genai-prices has no flat price for {provider_id}:{model_id}")
    prices = model.prices
    return TokenRates(
        input=_per_token(prices.input_mtok, "input"),
        cache_read=_per_token(prices.cache_read_mtok, "cache read"),
        cache_write_5m=_per_token(prices.cache_write_mtok, "cache write"),
        cache_write_1h=_per_token(prices.cache_write_1h_mtok, "1h cache write"),
        output=_per_token(prices.output_mtok, "output"),
    )


def _per_token(price_per_million: Decimal | TieredPrices | None, kind: str) -> Decimal:
    if price_per_million is None:
        raise LookupError(f"no {kind} price")
    base = price_per_million.base if isinstance(price_per_million, TieredPrices) else price_per_million
    return base / _PER_MILLION
