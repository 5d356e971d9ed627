"""Per-tool call rate limits over a sliding window: per requester, per run, and a global ceiling.

A limit shared by all users would let one runaway run refuse everyone else's honest calls, so the
limit a user meets counts only their own calls (and a run's own limit only that run's). The global
ceiling protects the vendor; it is set above any one requester's limit, so no single user exhausts it.
"""

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
    """At most `max_calls` calls of one tool in any `window` per requester, `max_calls_per_run` per run
    (None: only the requester's limit) and `global_max_calls` by everyone together (None: no ceiling)."""

    max_calls: int
    window: timedelta
    max_calls_per_run: int | None = None
    global_max_calls: int | None = None


@dataclass(frozen=True, kw_only=True)
class RateLimitRule:
    """Deny a call when its tool already ran as often as a limit allows within the window before `ctx.now`:
    `max_calls` by this requester, `max_calls_per_run` in this run, or `global_max_calls` by everyone.

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
        recent = [record for record in ctx.recent_calls if record.tool_name == call.tool_name and record.at > since]
        scopes = (
            ("per requester", limit.max_calls, [r for r in recent if r.requested_by == ctx.requested_by]),
            ("per run", limit.max_calls_per_run, [r for r in recent if r.run_id == ctx.run_id]),
            ("for all requesters together", limit.global_max_calls, recent),
        )
        for scope, max_calls, counted in scopes:
            if max_calls is None or len(counted) < max_calls:
                continue
            times = sorted(record.at for record in counted)
            # One more call is allowed once enough calls left the window that fewer than max_calls remain.
            retry_at = times[len(times) - max_calls] + limit.window
            wait_seconds = max(1, math.ceil((retry_at - ctx.now).total_seconds()))
            window_seconds = int(limit.window.total_seconds())
            return Decision.deny(
                rule=self.name,
                reason=(
                    f"rate limit for {call.tool_name} ({scope}): at most {max_calls} calls per {window_seconds} "
                    f"seconds, and {len(times)} ran in the last {window_seconds} seconds. "
                    f"Retry in {wait_seconds} seconds (after {retry_at.isoformat()})."
                ),
            )
        return None
