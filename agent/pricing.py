"""What one model response cost: its tokens as the ledger counts them, and its price from genai-prices.

Token columns follow Anthropic's usage fields, which do not overlap: `input_tokens` is the input neither
read from nor written to the prompt cache, `cache_read_tokens` and `cache_write_tokens` the rest, so
their sum is the whole prompt (what pydantic-ai reports as `usage.input_tokens`). A price pydantic-ai
cannot find stays unknown (None), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import genai_prices
import logfire
from pydantic_ai.messages import ModelResponse

__all__ = ["Price", "TokenCounts", "price_response"]


@dataclass(frozen=True, kw_only=True)
class Price:
    """What a response cost, and which genai-prices data said so."""

    total_usd: Decimal
    data_version: str


def _price_data_version(auto_update_timestamp: datetime | None) -> str:
    """The genai-prices data that priced a response: the bundled data of the installed version, or a
    snapshot it downloaded at run time (`UpdatePrices`), named by when it was fetched."""
    version = f"genai-prices {genai_prices.__version__}"
    if auto_update_timestamp is None:
        return version
    return f"{version}, prices updated {auto_update_timestamp.isoformat()}"


def price_response(response: ModelResponse) -> Price | None:
    """The response's price from genai-prices at the response's time, or None when it is unknown.

    genai-prices prices every usage kind at its own rate: uncached input, cache reads, five-minute and
    one-hour cache writes (`cache_write_1h_tokens` is priced at `cache_write_1h_mtok`, the rest of the
    writes at `cache_write_mtok`), and output.
    """
    if not response.model_name:
        return None
    try:
        calculation = response.cost()
    except (LookupError, ValueError, AssertionError) as error:
        logfire.warn(
            "no price for model {model_name}: cost recorded as unknown",
            model_name=response.model_name,
            error_type=type(error).__name__,
        )
        return None
    return Price(total_usd=calculation.total_price, data_version=_price_data_version(calculation.auto_update_timestamp))


@dataclass(frozen=True, kw_only=True)
class TokenCounts:
    """A response's tokens as the ledger records them: Anthropic's usage fields, plain and streamed alike.

    pydantic-ai's `usage.input_tokens` is the whole prompt, cache reads and writes included; the
    ledger's `input_tokens` is Anthropic's `input_tokens`, the part that was neither. pydantic-ai keeps
    the one-hour share of the cache writes; Anthropic's five-minute share is the rest of them.
    """

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int

    @classmethod
    def of(cls, response: ModelResponse) -> TokenCounts:
        usage = response.usage
        return cls(
            input_tokens=usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_5m_tokens=usage.cache_write_tokens - usage.cache_write_1h_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
        )
