"""The double rejects what the real API rejects, with the real API's kind of message, and consumes nothing."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from signoff.api.dev.anthropic_double import MessagesDouble, Reply
from tests.anthropic_double.support import MODEL, ephemeral, sdk_client, served, user

TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "get_contact", "input": {}}


def marked_system(count: int) -> Any:
    return [{"type": "text", "text": f"part {index}", **ephemeral()} for index in range(count)]


REJECTED: dict[str, tuple[dict[str, Any], str]] = {
    "missing model": ({"max_tokens": 10, "messages": [user("hi")]}, "model: Field required"),
    "missing max_tokens": ({"model": MODEL, "messages": [user("hi")]}, "max_tokens: Field required"),
    "missing messages": ({"model": MODEL, "max_tokens": 10}, "messages: Field required"),
    "assistant first": (
        {"model": MODEL, "max_tokens": 10, "messages": [{"role": "assistant", "content": "hello"}]},
        'messages: first message must use the "user" role',
    ),
    "empty message": (
        {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": []}, user("hi")]},
        "messages.0: all messages must have non-empty content except for the optional final assistant message",
    ),
    "tool_result for an unknown tool_use": (
        {
            "model": MODEL,
            "max_tokens": 10,
            "messages": [
                user("look it up"),
                {"role": "assistant", "content": [TOOL_USE]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "x"}]},
            ],
        },
        "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_2. Each `tool_result` "
        "block must have a corresponding `tool_use` block in the previous message.",
    ),
    "tool_use without its tool_result": (
        {
            "model": MODEL,
            "max_tokens": 10,
            "messages": [user("look it up"), {"role": "assistant", "content": [TOOL_USE]}, user("well?")],
        },
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each "
        "`tool_use` block must have a corresponding `tool_result` block in the next message.",
    ),
    "five cache_control blocks": (
        {"model": MODEL, "max_tokens": 10, "system": marked_system(5), "messages": [user("hi")]},
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    "four marked blocks and automatic caching": (
        {
            "model": MODEL,
            "max_tokens": 10,
            "system": marked_system(4),
            "messages": [user("hi")],
            "cache_control": {"type": "ephemeral"},
        },
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    "a 1h breakpoint after a 5m one": (
        {
            "model": MODEL,
            "max_tokens": 10,
            "system": [{"type": "text", "text": "rules", **ephemeral("5m")}],
            "messages": [user("hi", **ephemeral("1h"))],
        },
        "messages.0.content.0.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' "
        "cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`.",
    ),
}


@pytest.mark.parametrize("case", REJECTED)
async def test_an_invalid_body_is_rejected_with_the_reason(case: str) -> None:
    body, message = REJECTED[case]
    double = MessagesDouble([Reply("never sent")])
    async with served(double) as client:
        with pytest.raises(anthropic.BadRequestError) as raised:
            await client.post("/v1/messages", cast_to=anthropic.types.Message, body=body)
        # The rejected request consumed no turn: a valid one still gets the first reply.
        answer = await client.messages.create(model=MODEL, max_tokens=10, messages=[user("hi")])

    assert raised.value.status_code == 400
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message},
        "request_id": raised.value.request_id,
    }
    assert answer.content[0].type == "text" and answer.content[0].text == "never sent"
    rejected = double.exchanges[0]
    assert (rejected.status, rejected.error_message, rejected.usage) == (400, message, None)


async def test_four_breakpoints_are_accepted_and_counted() -> None:
    double = MessagesDouble([Reply("fine")])
    async with served(double) as client:
        await client.messages.create(
            model=MODEL, max_tokens=10, system=marked_system(3), messages=[user("hi", **ephemeral())]
        )
    assert [exchange.breakpoints for exchange in double.exchanges] == [4]


async def test_a_request_without_credentials_is_refused() -> None:
    double = MessagesDouble([Reply("never sent")])
    with double.serve() as base_url:
        async with sdk_client(base_url, default_headers={"authorization": anthropic.omit}) as client:
            with pytest.raises(anthropic.AuthenticationError) as raised:
                await client.messages.create(model=MODEL, max_tokens=10, messages=[user("hi")])
        # The x-api-key header alone is enough, as on the real API.
        key_only = {"authorization": anthropic.omit, "x-api-key": "test-key"}
        async with sdk_client(base_url, default_headers=key_only) as client:
            answer = await client.messages.create(model=MODEL, max_tokens=10, messages=[user("hi")])
    assert raised.value.status_code == 401
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "x-api-key header is required"},
        "request_id": raised.value.request_id,
    }
    assert answer.content[0].type == "text" and answer.content[0].text == "never sent"
    assert "authorization" not in double.exchanges[0].headers


async def test_a_request_without_anthropic_version_is_refused() -> None:
    double = MessagesDouble([Reply("never sent")])
    async with served(double, default_headers={"anthropic-version": anthropic.omit}) as client:
        with pytest.raises(anthropic.BadRequestError) as raised:
            await client.messages.count_tokens(model=MODEL, messages=[user("hi")])
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "anthropic-version: header is required"},
        "request_id": raised.value.request_id,
    }


async def test_a_body_that_is_not_json_is_refused() -> None:
    double = MessagesDouble([Reply("never sent")])
    async with served(double) as client:
        with pytest.raises(anthropic.BadRequestError) as raised:
            await client.post(
                "/v1/messages",
                cast_to=anthropic.types.Message,
                options={"headers": {"content-type": "application/json"}},
                content=b"{not json",
            )
    assert raised.value.status_code == 400
    (exchange,) = double.exchanges
    assert (exchange.body, exchange.breakpoints) == (None, 0)


async def test_an_exhausted_script_says_so() -> None:
    double = MessagesDouble([Reply("only one")])
    async with served(double) as client:
        await client.messages.create(model=MODEL, max_tokens=10, messages=[user("hi")])
        with pytest.raises(anthropic.BadRequestError, match="the script has 1 replies and all were used"):
            await client.messages.create(model=MODEL, max_tokens=10, messages=[user("again")])
    assert double.replies_taken == 1


async def test_an_unknown_path_answers_in_the_api_error_shape() -> None:
    async with served(MessagesDouble([Reply("never sent")])) as client:
        with pytest.raises(anthropic.NotFoundError) as raised:
            await client.get("/v1/models/none", cast_to=object)
    assert raised.value.body == {"type": "error", "error": {"type": "not_found_error", "message": "Not Found"}}
