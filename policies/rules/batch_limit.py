"""The hard limit on items per call: oversized batches are denied, never truncated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision

__all__ = ["BatchLimitRule"]


@dataclass(frozen=True, kw_only=True)
class BatchLimitRule:
    """Deny calls whose `batch_size` exceeds the tool's `max_batch`, lowered by the config if it says so.

    `config_limits` maps tool names to `[tools.<name>] max_batch`. The effective limit is the smaller of
    the two, so a config can only tighten a tool's hard limit, even if its value was never checked
    against the registry. The reason tells the model how to split the batch (invariant 7).
    """

    name: str = "batch_limit"
    config_limits: Mapping[str, int] = field(default_factory=dict[str, int])

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        """Deny a batch above the effective limit; no opinion otherwise."""
        spec = call.spec
        if spec is None or spec.batch_arg is None:
            return None
        limits = [limit for limit in (spec.max_batch, self.config_limits.get(spec.name)) if limit is not None]
        if not limits:
            return None
        limit = min(limits)
        size = spec.batch_size(call.args)
        if size <= limit:
            return None
        value = call.args.get(spec.batch_arg)
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            reason = (
                f"{spec.name} accepts at most {limit} {spec.batch_arg} per call; you sent {size}. "
                f"Split the batch into calls of at most {limit} and try again."
            )
        else:
            reason = (
                f"{spec.name} accepts {spec.batch_arg} of at most {limit} per call; you asked for {size}. "
                f"Make several calls with {spec.batch_arg} of at most {limit} and try again."
            )
        return Decision.deny(rule=self.name, reason=reason)
