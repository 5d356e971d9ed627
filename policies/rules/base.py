"""The shape every policy rule has: a name and a pure `evaluate` that may have no opinion."""

from __future__ import annotations

from typing import Protocol

from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision

__all__ = ["PolicyRule"]


class PolicyRule(Protocol):
    """One rule: a pure function of the call and its context.

    `evaluate` returns a `Decision` recorded under `name`, or None when the rule has no opinion on this
    call. It must not do I/O: everything it may know arrives in `ToolCallRequest` and `PolicyContext`.
    Exceptions are allowed to escape; the engine turns them into a deny (fail closed).
    """

    @property
    def name(self) -> str:
        """A stable identifier, recorded with every decision the rule takes."""
        ...

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        """The rule's opinion on this call, or None."""
        ...
