"""Typed tools and their safety metadata. See `tools.registry`; `tools.sales` is the reference pack."""

from signoff.tools.registry import (
    ApprovalFacts,
    ToolArgumentsError,
    ToolRegistry,
    ToolSpec,
    UnknownToolError,
    canonical_json,
)

__all__ = ["ApprovalFacts", "ToolArgumentsError", "ToolRegistry", "ToolSpec", "UnknownToolError", "canonical_json"]
