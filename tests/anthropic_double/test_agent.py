"""A pydantic-ai Agent on the real AnthropicModel round-trips a tool call through the double."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from inline_snapshot import snapshot
from pydantic_ai import Agent
from pydantic_ai.models import override_allow_model_requests
from pydantic_ai.models.anthropic import AnthropicModel, AnthropicModelSettings
from pydantic_ai.providers.anthropic import AnthropicProvider

from signoff.api.dev.anthropic_double import MessagesDouble, Reply, ToolUse
from tests.anthropic_double.support import MODEL

SCRIPT = [
    Reply("Let me look that up.", tool_uses=[ToolUse("get_contact", {"email": "ada@example.com"})]),
    Reply("The contact is Ada Lovelace."),
]


@pytest.fixture(autouse=True)
def allow_model_requests() -> Iterator[None]:
    """The suite forbids model requests; these go to the local double only."""
    with override_allow_model_requests(True):
        yield


def contact_agent(base_url: str, lookups: list[str], **settings: Any) -> Agent[None, str]:
    model = AnthropicModel(MODEL, provider=AnthropicProvider(base_url=base_url, api_key="test-key"))
    agent = Agent(
        model,
        instructions="You look up contacts.",
        model_settings=AnthropicModelSettings(
            anthropic_cache_tool_definitions=True, anthropic_cache_instructions=True, **settings
        ),
    )

    @agent.tool_plain
    def get_contact(email: str) -> str:
        """Look up a contact by email address."""
        lookups.append(email)
        return f"Ada Lovelace <{email}>"

    return agent


def token_totals(double: MessagesDouble) -> tuple[int, int]:
    usages = [exchange.usage for exchange in double.message_exchanges if exchange.usage is not None]
    input_side = sum(
        u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"] for u in usages
    )
    return input_side, sum(u["output_tokens"] for u in usages)


def assert_tool_round_trip(double: MessagesDouble) -> None:
    first, second = double.message_exchanges
    tool_use_ids = [block["id"] for block in second.body["messages"][1]["content"] if block["type"] == "tool_use"]
    tool_results = [
        block["tool_use_id"] for block in second.body["messages"][2]["content"] if block["type"] == "tool_result"
    ]
    assert tool_use_ids == tool_results == [tool_use_ids[0]]
    assert tool_use_ids[0].startswith("toolu_")
    assert first.status == second.status == 200


async def test_an_agent_run_calls_the_tool_and_answers() -> None:
    double = MessagesDouble(SCRIPT)
    lookups: list[str] = []
    with double.serve() as base_url:
        result = await contact_agent(base_url, lookups, max_tokens=1024).run("Who is ada@example.com?")

    assert result.output == "The contact is Ada Lovelace."
    assert lookups == ["ada@example.com"]
    assert_tool_round_trip(double)
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens) == token_totals(double)
    assert [(e.streamed, e.breakpoints) for e in double.message_exchanges] == snapshot([(False, 2), (False, 2)])


async def test_a_streamed_agent_run_with_automatic_caching_reads_the_growing_prefix() -> None:
    # run_stream takes the first text it sees as the output, so here the tool call comes alone.
    script = [Reply(tool_uses=SCRIPT[0].tool_uses), SCRIPT[1]]
    # The documented minimum is far above this tiny prompt; a low one makes the cache visible.
    double = MessagesDouble(script, min_cacheable_tokens={"*": 50})
    lookups: list[str] = []
    with double.serve() as base_url:
        agent = contact_agent(base_url, lookups, anthropic_cache=True)
        async with agent.run_stream("Who is ada@example.com?") as run:
            output = await run.get_output()
        usage = run.usage

    assert output == "The contact is Ada Lovelace."
    assert lookups == ["ada@example.com"]
    assert_tool_round_trip(double)
    assert (usage.input_tokens, usage.output_tokens) == token_totals(double)
    assert usage.cache_read_tokens == sum(
        e.usage["cache_read_input_tokens"] for e in double.message_exchanges if e.usage
    )
    assert [e.streamed for e in double.message_exchanges] == [True, True]
    assert [e.breakpoints for e in double.message_exchanges] == [3, 3]  # tools, instructions, conversation
    first, second = (e.usage for e in double.message_exchanges)
    assert first is not None and second is not None
    assert first["cache_read_input_tokens"] == 0
    # The second step reads the first request's whole prompt, found behind the moved breakpoint.
    first_prompt = first["input_tokens"] + first["cache_creation_input_tokens"]
    assert second["cache_read_input_tokens"] == first_prompt
