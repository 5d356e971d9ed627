"""The token economy benchmark's floor: the least a token stream could cost under any use of the cache."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench.bench_token_economy import Arm, lowest_possible_cost
from signoff.agent.prices import token_rates
from signoff.agent.store.tables import LedgerRow


def _row(step: int, *, read: int, write: int, output: int) -> LedgerRow:
    return LedgerRow(step=step, input_tokens=0, cache_read_tokens=read, cache_write_tokens=write, output_tokens=output)


def test_each_token_is_charged_its_cheapest_price_for_how_often_it_appears() -> None:
    # Prompts of 2000, 2500 and 2600 tokens, each beginning with the whole previous one.
    arm = Arm(
        caching=True,
        steps=[
            _row(1, read=0, write=2000, output=10),
            _row(2, read=2000, write=500, output=10),
            _row(3, read=2500, write=100, output=10),
        ],
    )
    # $ per million: 2000 tokens seen 3 times: a write and two reads, 3.75 + 2 x 0.30 = 4.35 (under 3 x 3);
    # 500 seen twice: 3.75 + 0.30 = 4.05; 100 seen once: the input rate, 3; output 30 x 15.
    expected = (2000 * Decimal("4.35") + 500 * Decimal("4.05") + 100 * 3 + 30 * 15) / 1_000_000
    assert lowest_possible_cost(arm, token_rates("claude-sonnet-4-5")) == expected


def test_a_stream_that_does_not_grow_by_appending_has_no_floor() -> None:
    arm = Arm(caching=True, steps=[_row(1, read=0, write=2000, output=1), _row(2, read=1500, write=600, output=1)])
    with pytest.raises(ValueError, match="step 2 does not begin with the whole previous prompt"):
        lowest_possible_cost(arm, token_rates("claude-sonnet-4-5"))
