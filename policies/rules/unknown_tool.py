"""Fail closed on calls to tools nobody registered."""

from __future__ import annotations

from dataclasses import dataclass

from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision

__all__ = ["UnknownToolRule"]

# The tool name comes from the model; a runaway name must not turn the denial into a wall of text.
_MAX_NAME_CHARS = 80


@dataclass(frozen=True, kw_only=True)
class UnknownToolRule:
    """Deny any call whose tool has no spec (or whose spec is registered under another name)."""

    name: str = "unknown_tool"

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        """Deny unknown tools, listing the tools the model may call instead."""
        if call.spec is not None and call.spec.name == call.tool_name:
            return None
        shown = call.tool_name if len(call.tool_name) <= _MAX_NAME_CHARS else call.tool_name[:_MAX_NAME_CHARS] + "…"
        available = ", ".join(sorted(ctx.available_tools)) or "(none)"
        return Decision.deny(rule=self.name, reason=f"unknown tool {shown!r}; available: {available}")
