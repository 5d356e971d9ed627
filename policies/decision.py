"""Decisions: what the policy layer says about one tool call, and which rule said it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Decision", "Verdict", "strictest"]

Verdict = Literal["allow", "require_approval", "deny"]

# Strictness order: a combination of rules takes the strictest verdict, so adding a rule can only ever
# make the outcome stricter, never weaker.
_STRICTNESS: dict[Verdict, int] = {"allow": 0, "require_approval": 1, "deny": 2}


@dataclass(frozen=True, kw_only=True)
class Decision:
    """A verdict on one call with the reason (shown to the model or the approver) and the rule's name."""

    verdict: Verdict
    reason: str
    rule: str

    @classmethod
    def allow(cls, *, rule: str, reason: str = "allowed") -> Decision:
        """The call may run now."""
        return cls(verdict="allow", reason=reason, rule=rule)

    @classmethod
    def deny(cls, *, rule: str, reason: str) -> Decision:
        """The call must not run; `reason` reaches the model as the tool result."""
        return cls(verdict="deny", reason=reason, rule=rule)

    @classmethod
    def require_approval(cls, *, rule: str, reason: str) -> Decision:
        """The call waits for a person; `reason` is shown to the approver."""
        return cls(verdict="require_approval", reason=reason, rule=rule)

    @property
    def strictness(self) -> int:
        """0 for allow, 1 for require_approval, 2 for deny."""
        return _STRICTNESS[self.verdict]


def strictest(decisions: Iterable[Decision], *, default: Decision) -> Decision:
    """The strictest of `decisions` (the first one on ties), or `default` when there are none."""
    best: Decision | None = None
    for decision in decisions:
        if best is None or decision.strictness > best.strictness:
            best = decision
    return best if best is not None else default
