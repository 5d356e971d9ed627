"""Ask a person whenever the tool's own metadata (or the config's override of it) says so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision
from signoff.tools.registry import ApprovalFacts

__all__ = ["ToolMetadataApprovalRule"]


@dataclass(frozen=True, kw_only=True)
class ToolMetadataApprovalRule:
    """Require approval when `ToolSpec.needs_approval` is true for these arguments.

    `overrides` maps tool names to a constant that replaces the tool's own `requires_approval`
    (constant or predicate) entirely: `[tools.<name>] requires_approval = true|false` in the config.
    """

    name: str = "tool_metadata_approval"
    overrides: Mapping[str, bool] = field(default_factory=dict[str, bool])

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        """Require approval when the metadata or the config override asks for a person."""
        spec = call.spec
        if spec is None:
            return None
        override = self.overrides.get(spec.name)
        if override is not None:
            if not override:
                return None
            return Decision.require_approval(
                rule=self.name, reason=f"the policy config requires approval for every {spec.name!r} call"
            )
        facts = ApprovalFacts(run_id=ctx.run_id, known_recipients=ctx.known_recipients)
        if not spec.needs_approval(call.args, facts):
            return None
        kind = "is destructive and requires" if spec.destructive else "requires"
        return Decision.require_approval(rule=self.name, reason=f"{spec.name!r} {kind} human approval for this call")
