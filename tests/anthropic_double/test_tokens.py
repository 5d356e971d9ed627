"""The tokenizer stand-in and the prompt layout tests compute their expectations from."""

from __future__ import annotations

from inline_snapshot import snapshot

from signoff.api.dev.anthropic_double import (
    MESSAGE_OVERHEAD_TOKENS,
    TOOL_OVERHEAD_TOKENS,
    build_prompt,
    count_input_tokens,
    count_tokens_stand_in,
)
from tests.anthropic_double.support import MODEL, ephemeral, user


def test_the_stand_in_counts_words_and_punctuation() -> None:
    assert count_tokens_stand_in("Hello, world") == 3
    assert count_tokens_stand_in("naïve café-au-lait") == 6  # Unicode words; each hyphen counts
    assert count_tokens_stand_in("") == 0
    # Anything else counts as its canonical JSON: {"text":"Hi","type":"text"}
    assert count_tokens_stand_in({"type": "text", "text": "Hi"}) == 17
    assert count_tokens_stand_in({"b": 1, "a": 2}) == count_tokens_stand_in({"a": 2, "b": 1})


def test_a_request_is_laid_out_tools_system_messages() -> None:
    tool = {"name": "t", "input_schema": {"type": "object"}}
    body = {
        "model": MODEL,
        "tools": [{**tool, **ephemeral("1h")}],
        "system": "Be brief.",
        "messages": [
            user("hi"),
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}]},
        ],
        "cache_control": {"type": "ephemeral"},
    }
    prompt = build_prompt(body)
    assert [(block.location, block.tokens) for block in prompt.blocks] == [
        ("tools.0", count_tokens_stand_in(tool) + TOOL_OVERHEAD_TOKENS),
        ("system.0", 16 + 3),  # a string system is one text block: "Be brief." is three tokens
        ("messages.0.content.0", 16 + 1 + MESSAGE_OVERHEAD_TOKENS),
        ("messages.1.content.0", count_tokens_stand_in(body["messages"][1]["content"][0]) + MESSAGE_OVERHEAD_TOKENS),
    ]
    assert count_input_tokens(body) == sum(block.tokens for block in prompt.blocks)
    # The automatic breakpoint skips the thinking block and lands on the last cacheable one.
    assert [(b.location, b.ttl, b.automatic) for b in prompt.breakpoints] == snapshot(
        [("tools.0", "1h", False), ("messages.0.content.0", "5m", True)]
    )


def test_a_marker_is_not_part_of_the_prefix() -> None:
    plain = build_prompt({"model": MODEL, "messages": [user("hi")]})
    marked = build_prompt({"model": MODEL, "messages": [user("hi", **ephemeral("1h"))]})
    other_model = build_prompt({"model": "claude-opus-4-1", "messages": [user("hi")]})
    assert plain.blocks[0].prefix_hash == marked.blocks[0].prefix_hash != other_model.blocks[0].prefix_hash
    assert plain.blocks[0].tokens == marked.blocks[0].tokens
