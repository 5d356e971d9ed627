"""Where a run stands against every spend limit: its own, its conversation's, its requester's and everyone's day.

The policy decides on these limits call by call (`spend_threshold`, `cumulative_spend`); this module shows a
person the same figures beside an approval. Spent amounts include calls that wait for approval (they are
reserved, as the policy counts them), so for a pending call they are what approving it would reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store import audit as audit_store
from signoff.agent.store import spend as spend_store
from signoff.agent.store.tables import RunRow
from signoff.policies import PolicyEngine
from signoff.policies.rules import CumulativeSpendRule, SpendThresholdRule

__all__ = ["SpendScope", "SpendStanding", "spend_standings"]

SpendScope = Literal["run", "conversation", "requester_today", "everyone_today"]


@dataclass(frozen=True, kw_only=True)
class SpendStanding:
    """Spend so far in one scope and its limit (None: no limit). The run's figure is provider spend, as its
    threshold counts it; the others are model and provider spend together."""

    scope: SpendScope
    label: str
    spent_usd: Decimal
    limit_usd: Decimal | None

    @property
    def over(self) -> bool:
        """Whether the spend is above the limit."""
        return self.limit_usd is not None and self.spent_usd > self.limit_usd


async def spend_standings(
    session: AsyncSession, *, policy: PolicyEngine, run: RunRow, now: datetime
) -> list[SpendStanding]:
    """The run's standing against each limit the policy has, read in `session`."""
    threshold = next((rule for rule in policy.rules if isinstance(rule, SpendThresholdRule)), None)
    cumulative = next((rule for rule in policy.rules if isinstance(rule, CumulativeSpendRule)), None)
    so_far = await spend_store.spend_so_far(
        session, conversation_id=run.conversation_id, requested_by=run.requested_by, now=now
    )
    return [
        SpendStanding(
            scope="run",
            label="this run (provider spend)",
            spent_usd=await audit_store.run_spend_usd(session, run_id=run.run_id),
            limit_usd=None if threshold is None else threshold.max_run_spend_usd,
        ),
        SpendStanding(
            scope="conversation",
            label="this conversation",
            spent_usd=so_far.conversation_usd,
            limit_usd=None if cumulative is None else cumulative.max_conversation_spend_usd,
        ),
        SpendStanding(
            scope="requester_today",
            label=f"{run.requested_by} today",
            spent_usd=so_far.requester_today_usd,
            limit_usd=None if cumulative is None else cumulative.max_requester_daily_spend_usd,
        ),
        SpendStanding(
            scope="everyone_today",
            label="everyone today",
            spent_usd=so_far.everyone_today_usd,
            limit_usd=None if cumulative is None else cumulative.max_daily_spend_usd,
        ),
    ]
