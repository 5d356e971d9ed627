"""The double's answers parse with the official SDK, plain and streamed, and stream like the real API."""

from __future__ import annotations

import json

import httpx
from inline_snapshot import snapshot

from signoff.api.dev.anthropic_double import MessagesDouble, Reply, ToolUse, count_tokens_stand_in
from tests.anthropic_double.support import MODEL, served, user

TOOL_INPUT = {"email": "ada@example.com", "fields": ["name", "company"]}
SCRIPT = [
    Reply("Hello from the double, in a few words."),
    Reply("Let me look that up.", tool_uses=[ToolUse("get_contact", TOOL_INPUT)]),
]


async def test_a_plain_answer_parses_with_the_sdk() -> None:
    double = MessagesDouble(SCRIPT)
    async with served(double) as client:
        first = await client.messages.create(model=MODEL, max_tokens=100, messages=[user("hi")])
        second = await client.messages.create(model=MODEL, max_tokens=100, messages=[user("hi")])

    assert first.model_dump(exclude_none=True) == snapshot(
        {
            "id": "msg_dbl00000000000000000001",
            "content": [{"text": "Hello from the double, in a few words.", "type": "text"}],
            "model": "claude-sonnet-4-6",
            "role": "assistant",
            "stop_reason": "end_turn",
            "type": "message",
            "usage": {
                "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "input_tokens": 20,
                "output_tokens": 10,
                "service_tier": "standard",
            },
        }
    )
    assert [block.type for block in second.content] == ["text", "tool_use"]
    tool_use = second.content[1]
    assert tool_use.type == "tool_use" and tool_use.id.startswith("toolu_")
    assert (tool_use.name, tool_use.input, second.stop_reason) == ("get_contact", TOOL_INPUT, "tool_use")
    # Output tokens: the reply's text and its tool input JSON, by the stand-in.
    assert second.usage.output_tokens == count_tokens_stand_in("Let me look that up.") + count_tokens_stand_in(
        TOOL_INPUT
    )
    # The request id travels as the `request-id` header, where the SDK reads it.
    assert [first._request_id, second._request_id] == [e.request_id for e in double.exchanges]  # pyright: ignore[reportPrivateUsage]


async def test_a_streamed_answer_accumulates_to_the_same_message() -> None:
    double = MessagesDouble(SCRIPT[1:])
    async with (
        served(double) as client,
        client.messages.stream(model=MODEL, max_tokens=100, messages=[user("hi")]) as stream,
    ):
        kinds = [event.type async for event in stream]
        message = await stream.get_final_message()

    assert kinds.count("input_json") >= 3  # the tool input arrives in several fragments
    assert kinds.count("text") >= 2
    tool_use = message.content[1]
    assert tool_use.type == "tool_use" and tool_use.input == TOOL_INPUT
    assert message.content[0].type == "text" and message.content[0].text == "Let me look that up."
    (exchange,) = double.exchanges
    assert exchange.streamed
    # message_start says output_tokens 1; message_delta's cumulative totals replace it.
    assert (
        message.usage.model_dump(exclude_none=True)
        == exchange.usage
        == snapshot(
            {
                "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "input_tokens": 20,
                "output_tokens": 33,
                "service_tier": "standard",
            }
        )
    )


async def test_the_event_stream_follows_the_documented_order() -> None:
    double = MessagesDouble(SCRIPT[1:])
    body = {"model": MODEL, "max_tokens": 100, "stream": True, "messages": [user("hi")]}
    headers = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
    with double.serve() as base_url:
        async with (
            httpx.AsyncClient(base_url=base_url) as http,
            http.stream("POST", "/v1/messages", json=body, headers=headers) as response,
        ):
            raw = (await response.aread()).decode()

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"] == double.exchanges[0].request_id
    events = [chunk.split("\n") for chunk in raw.strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    payloads = [json.loads(lines[1].removeprefix("data: ")) for lines in events]
    assert [payload["type"] for payload in payloads] == names
    collapsed = [name for index, name in enumerate(names) if index == 0 or names[index - 1] != name]
    assert collapsed == snapshot(
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    )
    fragments = [p["delta"]["partial_json"] for p in payloads if p["type"] == "content_block_delta" and p["index"] == 1]
    assert len(fragments) > 1 and json.loads("".join(fragments)) == TOOL_INPUT
    assert payloads[0]["message"]["usage"]["output_tokens"] == 1
    assert payloads[-2]["usage"] == snapshot(
        {"input_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 33}
    )
