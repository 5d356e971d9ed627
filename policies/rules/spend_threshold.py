"""Ask a person before a run's estimated external spend, or one call's item count, gets large."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision

__all__ = ["DEFAULT_MAX_ITEMS_WITHOUT_APPROVAL", "DEFAULT_MAX_RUN_SPEND_USD", "SpendThresholdRule", "usd"]

# The seed platform's figures: a run could spend up to $20 of enrichment and outreach credits, and a
# person looked at any call touching "more than 10 leads".
DEFAULT_MAX_RUN_SPEND_USD = Decimal("20.00")
DEFAULT_MAX_ITEMS_WITHOUT_APPROVAL = 10

_CENT = Decimal("0.01")


def usd(amount: Decimal) -> str:
    """Dollars with cents, keeping sub-cent precision when there is any (unit costs like $0.002)."""
    if amount == amount.quantize(_CENT):
        return f"${amount.quantize(_CENT)}"
    return f"${amount.normalize():f}"


@dataclass(frozen=True, kw_only=True)
class SpendThresholdRule:
    """Require approval above the run's spend budget or above a per-call item count.

    The spend check applies to calls that cost something: the run's spend so far plus this call's
    estimate must stay at or below `max_run_spend_usd`. The item check applies to tools that cost per
    item or take a batch: more than `max_items_without_approval` items need a person.
    """

    name: str = "spend_threshold"
    max_run_spend_usd: Decimal = DEFAULT_MAX_RUN_SPEND_USD
    max_items_without_approval: int = DEFAULT_MAX_ITEMS_WITHOUT_APPROVAL

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        """Require approval when either threshold is crossed, showing the figures."""
        spec = call.spec
        if spec is None:
            return None
        reasons: list[str] = []
        items = spec.batch_size(call.args)
        cost = spec.estimated_cost_usd(call.args)
        projected = ctx.run_spend_usd + cost
        if cost > 0 and projected > self.max_run_spend_usd:
            reasons.append(
                f"this call would cost about {usd(cost)} ({items} × {usd(spec.unit_cost_usd)}); with "
                f"{usd(ctx.run_spend_usd)} already spent, the run would reach {usd(projected)}, above the "
                f"{usd(self.max_run_spend_usd)} a run may spend without approval"
            )
        counts_items = spec.unit_cost_usd > 0 or spec.batch_arg is not None
        if counts_items and items > self.max_items_without_approval:
            reasons.append(
                f"this call touches {items} items; calls with more than "
                f"{self.max_items_without_approval} items need approval"
            )
        if not reasons:
            return None
        return Decision.require_approval(rule=self.name, reason=f"{spec.name}: " + "; ".join(reasons))
