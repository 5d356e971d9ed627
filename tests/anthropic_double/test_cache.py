"""Prompt-cache accounting, through the official SDK over real HTTP.

Expected figures are computed by hand from the stand-in tokenizer: a text block holding n distinct
words is 16 + n tokens (`{"text":"…","type":"text"}` is 16 without its words), and a turn adds
MESSAGE_OVERHEAD_TOKENS to its first block.
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from inline_snapshot import snapshot

from signoff.api.dev.anthropic_double import (
    MESSAGE_OVERHEAD_TOKENS,
    TOOL_OVERHEAD_TOKENS,
    MessagesDouble,
    Reply,
    count_tokens_stand_in,
    minimum_cacheable_tokens,
)
from tests.anthropic_double.support import MODEL, ManualClock, ephemeral, served, user, words

SYSTEM = words(200, seed="sys")  # a 216-token system block
TOOL: dict[str, Any] = {
    "name": "get_contact",
    "description": words(60, seed="d"),  # long enough for the tools prefix alone to be cacheable
    "input_schema": {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]},
}
TOOL_TOKENS = count_tokens_stand_in(TOOL) + TOOL_OVERHEAD_TOKENS


def block_tokens(word_count: int, *, turn_start: bool = False) -> int:
    return 16 + word_count + (MESSAGE_OVERHEAD_TOKENS if turn_start else 0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def double(clock: ManualClock) -> MessagesDouble:
    return MessagesDouble(lambda body: Reply("ok"), min_cacheable_tokens={"*": 100}, clock=clock)


async def usage_of(client: anthropic.AsyncAnthropic, **request: Any) -> dict[str, Any]:
    message = await client.messages.create(model=request.pop("model", MODEL), max_tokens=100, **request)
    return message.usage.model_dump(exclude_none=True)


async def test_a_marked_prefix_is_written_then_read(double: MessagesDouble) -> None:
    system = [{"type": "text", "text": SYSTEM, **ephemeral()}]
    async with served(double) as client:
        first = await usage_of(client, system=system, messages=[user("question one")])
        second = await usage_of(client, system=system, messages=[user("question two")])

    assert block_tokens(200) == 216 and block_tokens(2, turn_start=True) == 21
    assert first == snapshot(
        {
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 216},
            "cache_creation_input_tokens": 216,
            "cache_read_input_tokens": 0,
            "input_tokens": 21,
            "output_tokens": 1,
            "service_tier": "standard",
        }
    )
    assert second == snapshot(
        {
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 216,
            "input_tokens": 21,
            "output_tokens": 1,
            "service_tier": "standard",
        }
    )
    # What the double recorded is exactly what the SDK parsed.
    assert [exchange.usage for exchange in double.exchanges] == [first, second]
    assert [exchange.breakpoints for exchange in double.exchanges] == [1, 1]


async def test_an_entry_expires_after_its_ttl_and_each_read_restarts_it(
    double: MessagesDouble, clock: ManualClock
) -> None:
    system = [{"type": "text", "text": SYSTEM, **ephemeral()}]
    reads: list[tuple[int, int]] = []
    async with served(double) as client:
        for advance in (0, 299, 299, 301):  # 598 s after the write, but never 300 s after the last read...
            clock.advance(advance)
            usage = await usage_of(client, system=system, messages=[user("question")])
            reads.append((usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]))
    # ...until 301 s of silence: the entry has expired and is written again.
    assert reads == [(0, 216), (216, 0), (216, 0), (0, 216)]


async def test_one_hour_and_five_minute_writes_are_split_by_breakpoint(
    double: MessagesDouble, clock: ManualClock
) -> None:
    tools = [{**TOOL, **ephemeral("1h")}]
    system = [{"type": "text", "text": SYSTEM, **ephemeral("5m")}]
    async with served(double) as client:
        first = await usage_of(client, tools=tools, system=system, messages=[user("question")])
        clock.advance(301)  # the 5-minute entry is gone, the 1-hour one is not
        later = await usage_of(client, tools=tools, system=system, messages=[user("question")])

    assert TOOL_TOKENS == 60 + 60 + TOOL_OVERHEAD_TOKENS  # description words, JSON structure, overhead
    assert first == snapshot(
        {
            "cache_creation": {"ephemeral_1h_input_tokens": 123, "ephemeral_5m_input_tokens": 216},
            "cache_creation_input_tokens": 339,
            "cache_read_input_tokens": 0,
            "input_tokens": 20,
            "output_tokens": 1,
            "service_tier": "standard",
        }
    )
    assert later == snapshot(
        {
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 216},
            "cache_creation_input_tokens": 216,
            "cache_read_input_tokens": 123,
            "input_tokens": 20,
            "output_tokens": 1,
            "service_tier": "standard",
        }
    )


async def test_a_prefix_under_the_minimum_is_neither_written_nor_read(double: MessagesDouble) -> None:
    system = [{"type": "text", "text": words(50), **ephemeral()}]  # 66 tokens, the minimum is 100
    async with served(double) as client:
        usages = [await usage_of(client, system=system, messages=[user("question")]) for _ in range(2)]
    assert (
        usages[0]
        == usages[1]
        == snapshot(
            {
                "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "input_tokens": 86,
                "output_tokens": 1,
                "service_tier": "standard",
            }
        )
    )


async def test_a_changed_prefix_or_another_model_is_not_read(double: MessagesDouble) -> None:
    system = [{"type": "text", "text": SYSTEM, **ephemeral()}]
    changed = [{"type": "text", "text": SYSTEM.replace("sys7 ", "sys7b "), **ephemeral()}]
    async with served(double) as client:
        await usage_of(client, system=system, messages=[user("question")])
        after_change = await usage_of(client, system=changed, messages=[user("question")])
        other_model = await usage_of(client, model="claude-opus-4-1", system=system, messages=[user("question")])
        # A moved or re-timed marker is not content: the same prefix is still read.
        retimed = [{"type": "text", "text": SYSTEM, **ephemeral("1h")}]
        same_prefix = await usage_of(client, system=retimed, messages=[user("question")])
    assert (after_change["cache_read_input_tokens"], after_change["cache_creation_input_tokens"]) == (0, 216)
    assert (other_model["cache_read_input_tokens"], other_model["cache_creation_input_tokens"]) == (0, 216)
    assert (same_prefix["cache_read_input_tokens"], same_prefix["cache_creation_input_tokens"]) == (216, 0)


async def test_a_growing_conversation_reads_its_previous_breakpoint(double: MessagesDouble) -> None:
    """With top-level (automatic) caching the breakpoint moves to the newest block each turn, and the
    previous turn's prefix is found within the lookback window."""
    turn_one = [user(words(100, seed="a"))]
    turn_two = [
        *turn_one,
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        user(words(10, seed="b")),
    ]
    automatic = {"type": "ephemeral"}
    async with served(double) as client:
        first = await usage_of(client, messages=turn_one, extra_body={"cache_control": automatic})
        second = await usage_of(client, messages=turn_two, extra_body={"cache_control": automatic})

    turn_one_tokens = block_tokens(100, turn_start=True)
    added = block_tokens(1, turn_start=True) + block_tokens(10, turn_start=True)
    assert (first["cache_creation_input_tokens"], first["input_tokens"]) == (turn_one_tokens, 0)
    assert (second["cache_read_input_tokens"], second["cache_creation_input_tokens"]) == (turn_one_tokens, added)
    assert [exchange.breakpoints for exchange in double.exchanges] == [1, 1]


@pytest.mark.parametrize(("lookback_blocks", "expected_read"), [(20, block_tokens(100, turn_start=True)), (2, 0)])
async def test_a_hit_is_found_only_within_the_lookback_window(
    clock: ManualClock, lookback_blocks: int, expected_read: int
) -> None:
    double = MessagesDouble(
        lambda body: Reply("ok"), min_cacheable_tokens={"*": 100}, clock=clock, lookback_blocks=lookback_blocks
    )
    question = words(100, seed="a")
    later_turns = [
        user(question),  # the same first block, its marker gone
        {"role": "assistant", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        user("three", **ephemeral()),  # three blocks after the cached prefix
    ]
    async with served(double) as client:
        await usage_of(client, messages=[user(question, **ephemeral())])
        later = await usage_of(client, messages=later_turns)
    assert later["cache_read_input_tokens"] == expected_read


async def test_count_tokens_equals_the_input_side_of_the_same_request(double: MessagesDouble) -> None:
    request: dict[str, Any] = {
        "tools": [{**TOOL, **ephemeral("1h")}],
        "system": [{"type": "text", "text": SYSTEM, **ephemeral()}],
        "messages": [user("How many tokens is this?")],
    }
    async with served(double) as client:
        counted = await client.messages.count_tokens(model=MODEL, **request)
        usage = await usage_of(client, **request)
    charged = usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
    # five words and a question mark
    assert counted.input_tokens == charged == TOOL_TOKENS + 216 + block_tokens(6, turn_start=True)
    assert [exchange.path for exchange in double.exchanges] == ["/v1/messages/count_tokens", "/v1/messages"]
    assert double.message_exchanges == double.exchanges[1:]


async def test_the_documented_minimums_apply_by_default(clock: ManualClock) -> None:
    double = MessagesDouble(lambda body: Reply("ok"), clock=clock)
    just_enough = [{"type": "text", "text": words(1008), **ephemeral()}]  # 1024 tokens
    one_short = [{"type": "text", "text": words(1007, seed="x"), **ephemeral()}]  # 1023 tokens
    async with served(double) as client:
        sonnet = await usage_of(client, system=just_enough, messages=[user("q")])
        sonnet_short = await usage_of(client, system=one_short, messages=[user("q")])
        haiku = await usage_of(client, model="claude-haiku-4-5-20251001", system=just_enough, messages=[user("q")])
    assert sonnet["cache_creation_input_tokens"] == 1024
    assert sonnet_short["cache_creation_input_tokens"] == 0
    assert haiku["cache_creation_input_tokens"] == 0  # Haiku 4.5 needs 4096
    assert {
        model: minimum_cacheable_tokens(model)
        for model in ("claude-sonnet-4-6", "claude-opus-4-5", "claude-opus-4-1", "claude-3-5-haiku-latest", "x")
    } == snapshot(
        {
            "claude-sonnet-4-6": 1024,
            "claude-opus-4-5": 4096,
            "claude-opus-4-1": 1024,
            "claude-3-5-haiku-latest": 2048,
            "x": 1024,
        }
    )
    assert minimum_cacheable_tokens("claude-opus-4-1", {"claude-opus": 10}) == 10
