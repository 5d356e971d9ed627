"""Expected figures for the Claude tests, computed by hand from genai-prices' data and the double's record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest

from signoff.agent.prices import token_rates
from signoff.agent.store.tables import LedgerRow
from signoff.api.dev.anthropic_double import RecordedExchange

# Sonnet 4.5 is the default model and the one whose prices the tests hand-compute; pydantic-ai warns that
# it reaches end-of-life in November 2026, which is not what these tests are about.
IGNORE_SONNET_DEPRECATION = pytest.mark.filterwarnings(
    "ignore:The model 'claude-sonnet-4-5' is deprecated:DeprecationWarning"
)

# Above this many prompt tokens genai-prices switches Sonnet to its long-context tier; no test comes close.
_LONG_CONTEXT_TOKENS = 200_000


def hand_priced(usage: Mapping[str, Any], model_id: str = "claude-sonnet-4-5") -> Decimal:
    """The price of one response's usage: each kind of token times its rate from the price data."""
    rates = token_rates(model_id)
    split = usage["cache_creation"]
    prompt_tokens = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    assert prompt_tokens < _LONG_CONTEXT_TOKENS
    assert (
        split["ephemeral_5m_input_tokens"] + split["ephemeral_1h_input_tokens"] == usage["cache_creation_input_tokens"]
    )
    return (
        usage["input_tokens"] * rates.input
        + usage["cache_read_input_tokens"] * rates.cache_read
        + split["ephemeral_5m_input_tokens"] * rates.cache_write_5m
        + split["ephemeral_1h_input_tokens"] * rates.cache_write_1h
        + usage["output_tokens"] * rates.output
    )


def reported_tokens(exchange: RecordedExchange) -> dict[str, int]:
    """The ledger's token columns as the double reported them for one answered request."""
    usage = exchange.usage
    assert usage is not None
    return {
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cache_read_tokens": usage["cache_read_input_tokens"],
        "cache_write_tokens": usage["cache_creation_input_tokens"],
        "cache_write_5m_tokens": usage["cache_creation"]["ephemeral_5m_input_tokens"],
        "cache_write_1h_tokens": usage["cache_creation"]["ephemeral_1h_input_tokens"],
    }


def ledger_tokens(row: LedgerRow) -> dict[str, int]:
    """The same columns from a ledger row."""
    return {
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cache_read_tokens": row.cache_read_tokens,
        "cache_write_tokens": row.cache_write_tokens,
        "cache_write_5m_tokens": row.cache_write_5m_tokens,
        "cache_write_1h_tokens": row.cache_write_1h_tokens,
    }


def answered(exchanges: Sequence[RecordedExchange]) -> list[RecordedExchange]:
    """The /v1/messages requests that got a full answer (usage reported)."""
    return [exchange for exchange in exchanges if exchange.path == "/v1/messages" and exchange.usage is not None]
