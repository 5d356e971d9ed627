"""Ask a person before spend beyond one run gets large: per conversation, per requester per day, per day.

The per-run threshold (`spend_threshold`) alone can be split: the same work over several runs, or several
runs of one conversation, would each stay under it. These limits count what the conversation, the
requester today and everyone today already spent (model and provider spend, from the ledger and the
audit) plus this call's estimate. The approval shows where the call would take every limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision
from signoff.policies.rules.spend_threshold import usd

__all__ = [
    "DEFAULT_MAX_CONVERSATION_SPEND_USD",
    "DEFAULT_MAX_DAILY_SPEND_USD",
    "DEFAULT_MAX_REQUESTER_DAILY_SPEND_USD",
    "CumulativeSpendRule",
]

# Two and a half runs' worth of the per-run budget: a conversation that goes on longer is a project a
# person should look at. A requester may spend five runs' worth a day, and everyone together (the
# figure that protects the budget, not one user's) twenty-five.
DEFAULT_MAX_CONVERSATION_SPEND_USD = Decimal("50.00")
DEFAULT_MAX_REQUESTER_DAILY_SPEND_USD = Decimal("100.00")
DEFAULT_MAX_DAILY_SPEND_USD = Decimal("500.00")


@dataclass(frozen=True, kw_only=True)
class CumulativeSpendRule:
    """Require approval when a costly call would take the conversation's, the requester's (today) or
    everyone's (today) spend above its limit. A limit of None is off."""

    name: str = "cumulative_spend"
    max_conversation_spend_usd: Decimal | None = DEFAULT_MAX_CONVERSATION_SPEND_USD
    max_requester_daily_spend_usd: Decimal | None = DEFAULT_MAX_REQUESTER_DAILY_SPEND_USD
    max_daily_spend_usd: Decimal | None = DEFAULT_MAX_DAILY_SPEND_USD

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        """Require approval over any limit, naming the figure each limit would reach."""
        spec = call.spec
        if spec is None:
            return None
        cost = spec.estimated_cost_usd(call.args)
        if cost <= 0:
            return None
        spent = ctx.cumulative_spend
        limits = (
            ("this conversation", spent.conversation_usd, self.max_conversation_spend_usd),
            (
                f"{ctx.requested_by or 'this requester'} today",
                spent.requester_today_usd,
                self.max_requester_daily_spend_usd,
            ),
            ("everyone today", spent.everyone_today_usd, self.max_daily_spend_usd),
        )
        over = [label for label, so_far, limit in limits if limit is not None and so_far + cost > limit]
        if not over:
            return None
        figures = "; ".join(
            f"{label}: {usd(so_far + cost)} of {usd(limit)}{' (over)' if label in over else ''}"
            for label, so_far, limit in limits
            if limit is not None
        )
        return Decision.require_approval(
            rule=self.name,
            reason=(
                f"{spec.name} would cost about {usd(cost)} and take spend over the limit for "
                f"{' and '.join(over)}; with this call: {figures}"
            ),
        )
