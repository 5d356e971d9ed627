"""Per-tool call rate limits over a sliding window, counted across all runs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision

__all__ = ["WILDCARD_TOOL", "RateLimit", "RateLimitRule"]

WILDCARD_TOOL = "*"
"""The key of the limit that applies to every tool without a limit of its own."""


@dataclass(frozen=True, kw_only=True)
class RateLimit:
    """At most `max_calls` calls of one tool in any `window`."""

    max_calls: int
    window: timedelta


@dataclass(frozen=True, kw_only=True)
class RateLimitRule:
    """Deny a call when its tool already ran `max_calls` times within the window before `ctx.now`.

    `limits` maps tool names (or `"*"`) to limits. Only `ctx.recent_calls` of the same tool with
    `at > now - window` count; the guard gathers them for `lookback`, the longest window.
    """

    name: str = "rate_limit"
    limits: Mapping[str, RateLimit] = field(default_factory=dict[str, RateLimit])

    @property
    def lookback(self) -> timedelta:
        """How much call history this rule needs: its longest window."""
        return max((limit.window for limit in self.limits.values()), default=timedelta(0))

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        """Deny at or above the limit, saying when a retry would be allowed."""
        if call.spec is None:
            return None
        limit = self.limits.get(call.tool_name) or self.limits.get(WILDCARD_TOOL)
        if limit is None:
            return None
        since = ctx.now - limit.window
        times = sorted(
            record.at for record in ctx.recent_calls if record.tool_name == call.tool_name and record.at > since
        )
        if len(times) < limit.max_calls:
            return None
        # One more call is allowed once enough calls have left the window that fewer than max_calls remain.
        retry_at = times[len(times) - limit.max_calls] + limit.window
        wait_seconds = max(1, math.ceil((retry_at - ctx.now).total_seconds()))
        window_seconds = int(limit.window.total_seconds())
        return Decision.deny(
            rule=self.name,
            reason=(
                f"rate limit for {call.tool_name}: at most {limit.max_calls} calls per {window_seconds} seconds, "
                f"and {len(times)} ran in the last {window_seconds} seconds. "
                f"Retry in {wait_seconds} seconds (after {retry_at.isoformat()})."
            ),
        )
