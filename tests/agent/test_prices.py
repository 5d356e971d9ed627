"""Per-token rates read from genai-prices' bundled data."""

from __future__ import annotations

from decimal import Decimal

import pytest
from inline_snapshot import snapshot

from signoff.agent.prices import TokenRates, token_rates


def test_sonnet_rates_are_genai_prices_per_million_figures_per_token() -> None:
    assert token_rates("claude-sonnet-4-5") == snapshot(
        TokenRates(
            input=Decimal("0.000003"),
            cache_read=Decimal("3E-7"),
            cache_write_5m=Decimal("0.00000375"),
            cache_write_1h=Decimal("0.000006"),
            output=Decimal("0.000015"),
        )
    )


@pytest.mark.parametrize(("model_id", "provider_id"), [("claude-nonexistent-9", "anthropic"), ("x", "no-such")])
def test_an_unknown_model_or_provider_is_a_lookup_error(model_id: str, provider_id: str) -> None:
    with pytest.raises(LookupError, match=f"no flat price for {provider_id}:{model_id}"):
        token_rates(model_id, provider_id=provider_id)
