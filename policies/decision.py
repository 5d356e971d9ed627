"""Decisions: what the policy layer says about one tool call, and which rule said it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["REASON_SEPARATOR", "Decision", "Verdict", "combine", "strictest"]

Verdict = Literal["allow", "require_approval", "deny"]

# Strictness order: a combination of rules takes the strictest verdict, so adding a rule can only ever
# make the outcome stricter, never weaker.
_STRICTNESS: dict[Verdict, int] = {"allow": 0, "require_approval": 1, "deny": 2}

REASON_SEPARATOR = "; "
"""Between the reasons of several rules that each ask a person about one call (`combine`)."""


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


def combine(decisions: Iterable[Decision], *, default: Decision, reasons_first: Sequence[str] = ()) -> Decision:
    """The strictest of `decisions` (see `strictest`), where an approval carries every approving rule's reason.

    A person deciding a call should see every reason any rule had to ask, not only the deciding rule's.
    The reasons are joined with `REASON_SEPARATOR`, those of the rules named in `reasons_first` first (in
    that order: the most specific), then the others in rule order. `rule` stays the deciding rule's name
    (the first strictest opinion), so metrics and audit rows keep one rule per decision. A deny keeps its
    one reason: the model acts on it, and one reason it can fix is what it needs.
    """
    opinions = list(decisions)
    decision = strictest(opinions, default=default)
    if decision.verdict != "require_approval":
        return decision
    approving = [opinion for opinion in opinions if opinion.verdict == "require_approval"]
    ranked = [opinion for name in reasons_first for opinion in approving if opinion.rule == name]
    ranked += [opinion for opinion in approving if opinion not in ranked]
    reasons: list[str] = []
    for opinion in ranked:
        if opinion.reason not in reasons:  # two rules saying the same thing are said once
            reasons.append(opinion.reason)
    return Decision.require_approval(rule=decision.rule, reason=REASON_SEPARATOR.join(reasons))
