"""Faults on demand, as the official SDK sees them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import anthropic
import httpx2
import pytest

from signoff.api.dev.anthropic_double import Fault, MessagesDouble, Reply
from tests.anthropic_double.support import MODEL, served, user

SCRIPT = [Reply("first reply, with a few words to stream"), Reply("second reply")]


def text_of(message: anthropic.types.Message) -> str:
    block = message.content[0]
    assert block.type == "text"
    return block.text


async def ask(client: anthropic.AsyncAnthropic) -> anthropic.types.Message:
    return await client.messages.create(model=MODEL, max_tokens=100, messages=[user("hi")])


async def read_stream(client: anthropic.AsyncAnthropic, seen: list[str]) -> None:
    async with client.messages.stream(model=MODEL, max_tokens=100, messages=[user("hi")]) as stream:
        async for event in stream:
            seen.append(event.type)


async def eventually(condition: Callable[[], bool], *, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition did not become true in time")


async def test_a_rate_limit_carries_retry_after_and_consumes_no_turn() -> None:
    double = MessagesDouble(SCRIPT)
    double.add_faults(Fault.rate_limited(retry_after=7))
    async with served(double) as client:
        with pytest.raises(anthropic.RateLimitError) as raised:
            await ask(client)
        answer = await ask(client)
    assert raised.value.status_code == 429
    assert raised.value.response.headers["retry-after"] == "7"
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": raised.value.body["error"]["message"]},  # pyright: ignore[reportIndexIssue, reportOptionalSubscript, reportCallIssue, reportArgumentType]
        "request_id": raised.value.request_id,
    }
    assert text_of(answer) == "first reply, with a few words to stream"
    assert [(e.status, e.fault, e.usage is None) for e in double.exchanges] == [
        (429, "rate_limited", True),
        (200, None, False),
    ]


async def test_the_sdk_waits_retry_after_then_succeeds() -> None:
    double = MessagesDouble(SCRIPT)
    double.add_faults(Fault.rate_limited(retry_after=0.4))
    async with served(double, max_retries=1) as client:
        started = time.monotonic()
        answer = await ask(client)
        waited = time.monotonic() - started
    assert text_of(answer) == "first reply, with a few words to stream"
    assert waited >= 0.4
    assert [(e.status, e.headers["x-stainless-retry-count"]) for e in double.exchanges] == [(429, "0"), (200, "1")]


@pytest.mark.parametrize(
    ("fault", "error_class", "status", "error_type"),
    [
        (Fault.overloaded(), anthropic.OverloadedError, 529, "overloaded_error"),
        (Fault.server_error(), anthropic.InternalServerError, 500, "api_error"),
    ],
)
async def test_overload_and_server_errors(
    fault: Fault, error_class: type[anthropic.APIStatusError], status: int, error_type: str
) -> None:
    double = MessagesDouble(SCRIPT)
    double.add_faults(fault, fault)
    async with served(double) as client:
        for _ in range(2):
            with pytest.raises(error_class) as raised:
                await ask(client)
            assert raised.value.status_code == status
            assert raised.value.body["error"]["type"] == error_type  # pyright: ignore[reportIndexIssue, reportOptionalSubscript, reportCallIssue, reportArgumentType]
        assert text_of(await ask(client)) == "first reply, with a few words to stream"
    assert [e.status for e in double.exchanges] == [status, status, 200]


async def test_a_dropped_stream_raises_in_the_sdk_after_some_events() -> None:
    double = MessagesDouble(SCRIPT)
    double.add_faults(Fault.dropped_stream())
    seen: list[str] = []
    async with served(double) as client:
        with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
            await read_stream(client, seen)
        # The turn was not consumed: asked again, the model gives the whole of the same reply.
        async with client.messages.stream(model=MODEL, max_tokens=100, messages=[user("hi")]) as stream:
            retried = await stream.get_final_message()
    assert seen[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert "message_stop" not in seen
    assert text_of(retried) == "first reply, with a few words to stream"
    dropped = double.exchanges[0]
    assert (dropped.fault, dropped.streamed, dropped.usage) == ("dropped_stream", True, None)


async def test_a_dropped_plain_response_is_a_connection_error() -> None:
    double = MessagesDouble(SCRIPT)
    double.add_faults(Fault.dropped_stream())
    async with served(double) as client:
        with pytest.raises(anthropic.APIConnectionError):
            await ask(client)
        assert text_of(await ask(client)) == "first reply, with a few words to stream"


async def test_a_slow_answer_times_the_client_out_and_uses_its_turn() -> None:
    double = MessagesDouble(SCRIPT)
    double.add_faults(Fault.slow(0.6), Fault.slow(0.3))
    async with served(double) as client:
        with pytest.raises(anthropic.APITimeoutError):
            await ask(client.with_options(timeout=0.2))
        # The server finishes the abandoned request on its own time.
        await eventually(lambda: double.replies_taken == 1)
        started = time.monotonic()
        answer = await ask(client)
        elapsed = time.monotonic() - started
    assert text_of(answer) == "second reply"  # the timed-out request still took the first
    assert elapsed >= 0.3
    assert [(e.fault, e.status) for e in double.exchanges] == [("slow", 200), ("slow", 200)]
    assert double.replies_taken == 2
