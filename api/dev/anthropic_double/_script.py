"""What the double answers (`Reply`, `ToolUse`) and how it misbehaves on demand (`Fault`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Fault", "FaultKind", "Reply", "StopReason", "ToolUse"]

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]
FaultKind = Literal["rate_limited", "overloaded", "server_error", "dropped_stream", "slow"]


@dataclass(frozen=True)
class ToolUse:
    """A tool call the scripted model makes; the double gives it a `toolu_...` id."""

    name: str
    input: Mapping[str, Any] = field(default_factory=dict[str, Any])


@dataclass(frozen=True)
class Reply:
    """One scripted model turn: text, tool calls, or both (text first, as Claude writes them).

    `stop_reason` defaults to `"tool_use"` when there are tool calls, else `"end_turn"`.
    """

    text: str = ""
    tool_uses: Sequence[ToolUse] = ()
    stop_reason: StopReason | None = None

    @property
    def effective_stop_reason(self) -> StopReason:
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if self.tool_uses else "end_turn"


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A misbehaviour queued with `MessagesDouble.add_faults`; each hits one later `/v1/messages` request.

    Faults answer without consuming a script turn, except `slow`, which delays a normal answer.
    """

    kind: FaultKind
    retry_after: float | None = None
    seconds: float | None = None

    @classmethod
    def rate_limited(cls, retry_after: float) -> Fault:
        """429 `rate_limit_error` with a `retry-after` header of `retry_after` seconds."""
        return cls(kind="rate_limited", retry_after=retry_after)

    @classmethod
    def overloaded(cls) -> Fault:
        """529 `overloaded_error`, as the API answers when it is busy."""
        return cls(kind="overloaded")

    @classmethod
    def server_error(cls) -> Fault:
        """500 `api_error`."""
        return cls(kind="server_error")

    @classmethod
    def dropped_stream(cls) -> Fault:
        """Close the connection mid-response.

        Streaming: after `message_start` and the first deltas. Plain: after the status line and headers,
        before any of the body.
        """
        return cls(kind="dropped_stream")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait `seconds` before answering normally (this one consumes a script turn)."""
        return cls(kind="slow", seconds=seconds)
