"""What the double records about each request it received."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RecordedExchange"]


@dataclass(frozen=True, kw_only=True)
class RecordedExchange:
    """One request and the double's answer to it, faults and rejected requests included."""

    path: str
    """`/v1/messages` or `/v1/messages/count_tokens` (query string left out)."""
    headers: Mapping[str, str]
    """Request headers, keys lower-case."""
    body: Any
    """The parsed JSON body, or None when it was not JSON."""
    status: int
    """The HTTP status sent (200 for a dropped response: its head went out before the connection closed)."""
    streamed: bool
    """The request asked for `stream: true` and the answer was server-sent events."""
    request_id: str | None
    """Sent as the `request-id` response header."""
    breakpoints: int
    """Effective `cache_control` breakpoints: marked blocks, plus one for a top-level `cache_control`
    unless the block it lands on is already marked. 0 when the body could not be read."""
    usage: Mapping[str, Any] | None
    """The usage as the client ends up with it: the `Message.usage` of a plain answer, or a stream's
    `message_start` usage with `message_delta`'s cumulative counts applied. None on errors, faults,
    dropped responses and count_tokens."""
    fault: str | None
    """The kind of the queued `Fault` this request met, if any."""
    error_message: str | None
    """The error message sent, if the answer was an error."""
