"""The double's answers in the Messages API's wire format: messages, server-sent events, errors.

Shapes follow the API reference and the anthropic SDK's types (`Message`, `Usage`, `RawMessage*Event`).
In a stream, `message_start` carries the input-side usage with `output_tokens: 1`, and `message_delta`
carries the cumulative totals, which replace the start values (the SDK and pydantic-ai treat them so).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._cache import CacheUsage
from ._script import Reply
from ._tokens import count_tokens_stand_in
from ._validation import ApiError

__all__ = [
    "Answer",
    "SseEvent",
    "error_body",
    "message_body",
    "output_tokens",
    "partial_stream_events",
    "stream_events",
    "usage_body",
]

# A real stream delivers text a few words at a time and tool input in several JSON fragments;
# splitting ours the same way makes clients exercise their accumulation code.
_WORDS_PER_TEXT_DELTA = 3
_JSON_FRAGMENTS_PER_TOOL_INPUT = 4
_START_OUTPUT_TOKENS = 1  # what the real API reports in message_start before any output


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event: the SSE `event:` name is the data's `type`."""

    data: Mapping[str, Any]

    def encode(self) -> bytes:
        return f"event: {self.data['type']}\ndata: {json.dumps(self.data)}\n\n".encode()


@dataclass(frozen=True, kw_only=True)
class Answer:
    """Everything a successful answer says: ids, the scripted reply and its usage."""

    message_id: str
    model: str
    reply: Reply
    tool_use_ids: Sequence[str]
    usage: Mapping[str, Any]

    @property
    def content(self) -> list[dict[str, Any]]:
        """Text first (when there is any, or when there is nothing else), then the tool calls."""
        blocks: list[dict[str, Any]] = []
        if self.reply.text or not self.reply.tool_uses:
            blocks.append({"type": "text", "text": self.reply.text})
        for use, tool_use_id in zip(self.reply.tool_uses, self.tool_use_ids, strict=True):
            blocks.append({"type": "tool_use", "id": tool_use_id, "name": use.name, "input": dict(use.input)})
        return blocks


def output_tokens(reply: Reply) -> int:
    """Stand-in count of the reply's text and of each tool call's input JSON."""
    return count_tokens_stand_in(reply.text) + sum(count_tokens_stand_in(dict(use.input)) for use in reply.tool_uses)


def usage_body(cache: CacheUsage, *, output: int) -> dict[str, Any]:
    """The `usage` object of a complete response."""
    return {
        "input_tokens": cache.input_tokens,
        "cache_creation_input_tokens": cache.written_tokens,
        "cache_read_input_tokens": cache.read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache.written_5m_tokens,
            "ephemeral_1h_input_tokens": cache.written_1h_tokens,
        },
        "output_tokens": output,
        "service_tier": "standard",
    }


def message_body(answer: Answer) -> dict[str, Any]:
    """A complete `Message`, as a plain (non-streaming) request gets it."""
    return {
        "id": answer.message_id,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": answer.content,
        "stop_reason": answer.reply.effective_stop_reason,
        "stop_sequence": None,
        "usage": dict(answer.usage),
    }


def stream_events(answer: Answer) -> list[SseEvent]:
    """Every event of a complete stream, `message_start` to `message_stop`."""
    usage = answer.usage
    events = [_message_start(answer)]
    for index, block in enumerate(answer.content):
        events.extend(_block_events(index, block))
    events.append(
        SseEvent(
            {
                "type": "message_delta",
                "delta": {"stop_reason": answer.reply.effective_stop_reason, "stop_sequence": None},
                "usage": {
                    "input_tokens": usage["input_tokens"],
                    "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                    "cache_read_input_tokens": usage["cache_read_input_tokens"],
                    "output_tokens": usage["output_tokens"],
                },
            }
        )
    )
    events.append(SseEvent({"type": "message_stop"}))
    return events


def partial_stream_events(answer: Answer) -> list[SseEvent]:
    """What a dropped stream delivers: `message_start`, the first block's start, a ping, its first delta."""
    block_events = _block_events(0, answer.content[0])
    return [_message_start(answer), *block_events[: min(3, len(block_events) - 1)]]  # never the block's stop


def error_body(error: ApiError, *, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error.error_type, "message": error.message}, "request_id": request_id}


def _message_start(answer: Answer) -> SseEvent:
    message = {
        **message_body(answer),
        "content": [],
        "stop_reason": None,
        "usage": {**answer.usage, "output_tokens": _START_OUTPUT_TOKENS},
    }
    return SseEvent({"type": "message_start", "message": message})


def _block_events(index: int, block: Mapping[str, Any]) -> list[SseEvent]:
    if block["type"] == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in _text_pieces(block["text"])]
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in _json_pieces(block["input"])]
    events = [SseEvent({"type": "content_block_start", "index": index, "content_block": start})]
    if index == 0:
        events.append(SseEvent({"type": "ping"}))  # the real API pings early in every stream
    events += [SseEvent({"type": "content_block_delta", "index": index, "delta": delta}) for delta in deltas]
    events.append(SseEvent({"type": "content_block_stop", "index": index}))
    return events


def _text_pieces(text: str) -> list[str]:
    words = re.findall(r"\S+\s*|\s+", text)
    return ["".join(words[i : i + _WORDS_PER_TEXT_DELTA]) for i in range(0, len(words), _WORDS_PER_TEXT_DELTA)]


def _json_pieces(tool_input: Mapping[str, Any]) -> list[str]:
    encoded = json.dumps(tool_input, ensure_ascii=False)
    size = max(1, math.ceil(len(encoded) / _JSON_FRAGMENTS_PER_TOOL_INPUT))
    return [encoded[i : i + size] for i in range(0, len(encoded), size)]
