"""The policy engine: every rule has its say, the strictest opinion wins, and a failing rule denies.

When the strictest opinion is to ask a person, the decision carries every approving rule's reason (the
most specific first), so the approver sees why each rule asked (`policies.decision.combine`).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

import logfire

from signoff.policies.config import PolicyConfig
from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision, combine
from signoff.policies.rules import (
    BatchLimitRule,
    CumulativeSpendRule,
    EgressRule,
    OutboundEmailDomainsRule,
    PolicyRule,
    ProvenanceRule,
    RateLimit,
    RateLimitRule,
    SpendThresholdRule,
    ToolMetadataApprovalRule,
    UnknownToolRule,
)

__all__ = [
    "APPROVAL_CAP_RULE",
    "DEFAULT_ALLOW_RULE",
    "PolicyEngine",
    "RuleFailure",
    "RuleOpinion",
    "build_policy_engine",
]

DEFAULT_ALLOW_RULE = "default_allow"
"""The rule name recorded when no rule had an opinion and the call is allowed."""

APPROVAL_CAP_RULE = "approval_cap"
"""The rule name recorded when a call needing approval is refused because its run has enough waiting."""


@dataclass(frozen=True, kw_only=True)
class RuleFailure:
    """A rule that raised (or returned something other than a Decision), and the deny it became.

    `error_type` and `location` (file:line of the innermost frame) are for the operator; neither
    carries the exception's message, which may quote argument values.
    """

    decision: Decision
    error_type: str
    location: str


class RuleOpinion(NamedTuple):
    """One rule's say on a call, for `PolicyEngine.explain`: a Decision, None (no opinion) or a failure."""

    rule: str
    outcome: Decision | RuleFailure | None


def _failure(rule_name: str, error: BaseException) -> RuleFailure:
    frames = traceback.extract_tb(error.__traceback__)
    location = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "(unknown)"
    # The reason reaches the model and the approver: it names the rule, never the error or the arguments.
    decision = Decision.deny(rule=rule_name, reason=f"policy rule {rule_name!r} failed; the call was blocked")
    return RuleFailure(decision=decision, error_type=type(error).__name__, location=location)


class _NotADecisionError(TypeError):
    """A rule returned something other than a Decision or None."""


def _checked(outcome: object) -> Decision | None:
    # Rules written outside this package may not be type-checked; anything but a Decision or None fails.
    if outcome is not None and not isinstance(outcome, Decision):
        raise _NotADecisionError(f"rule returned {type(outcome).__name__}")
    return outcome


class PolicyEngine:
    """Runs rules over a call and combines their opinions into one `Decision`.

    `version` is recorded with every approval, so that a decision taken under one policy is never
    replayed under another; `lookback` tells the guard how much call history `PolicyContext` needs.
    `reasons_first` names rules whose approval reasons an approver reads before the others' (the most
    specific ones); it changes no verdict and no recorded rule.
    """

    def __init__(
        self,
        rules: Iterable[PolicyRule],
        *,
        version: str,
        lookback: timedelta,
        reasons_first: Sequence[str] = (),
        max_pending_approvals: int | None = None,
    ) -> None:
        self._rules = tuple(rules)
        names = [rule.name for rule in self._rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"policy rule names must be unique; repeated: {', '.join(duplicates)}")
        unknown = [name for name in reasons_first if name not in names]
        if unknown:
            raise ValueError(f"reasons_first names no rule of this engine: {', '.join(map(repr, unknown))}")
        if lookback < timedelta(0):
            raise ValueError(f"lookback must not be negative, got {lookback!r}")
        self.version = version
        self.lookback = lookback
        self.reasons_first = tuple(reasons_first)
        if max_pending_approvals is not None and max_pending_approvals < 1:
            raise ValueError(f"max_pending_approvals must be at least 1, got {max_pending_approvals}")
        self.max_pending_approvals = max_pending_approvals

    @property
    def rules(self) -> tuple[PolicyRule, ...]:
        """The rules, in the order they run (on equal strictness the first one's decision is kept)."""
        return self._rules

    def explain(self, call: ToolCallRequest, ctx: PolicyContext) -> list[RuleOpinion]:
        """Every rule's opinion on the call, in order, without combining them (for `signoff policy check`)."""
        return [RuleOpinion(rule.name, self._run_rule(rule, call, ctx)) for rule in self._rules]

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision:
        """The decision on one call: the strictest opinion of all rules; allow when none has one.

        The first strictest opinion decides and names the rule; an approval's reason joins every approving
        rule's reason, `reasons_first` first. Never raises for a rule's sake: a failing rule is a deny
        under that rule's name (fail closed).
        """
        with logfire.span("policy decision {tool_name}", tool_name=call.tool_name, policy_version=self.version) as span:
            decisions: list[Decision] = []
            for rule in self._rules:
                outcome = self._run_rule(rule, call, ctx)
                if isinstance(outcome, RuleFailure):
                    # The rule name and where it broke, never the arguments or the exception's message.
                    logfire.error(
                        "policy rule {rule} failed; call to {tool_name} denied",
                        rule=rule.name,
                        tool_name=call.tool_name,
                        error_type=outcome.error_type,
                        location=outcome.location,
                    )
                    decisions.append(outcome.decision)
                elif outcome is not None:
                    decisions.append(outcome)
            decision = combine(
                decisions, default=Decision.allow(rule=DEFAULT_ALLOW_RULE), reasons_first=self.reasons_first
            )
            decision = self._capped(decision, ctx)
            span.set_attribute("rule", decision.rule)
            span.set_attribute("verdict", decision.verdict)
            return decision

    def _capped(self, decision: Decision, ctx: PolicyContext) -> Decision:
        """A call that would add one approval too many to its run is refused: a flood of calls in one
        response must not become a flood of approvals for a person to wade through."""
        cap = self.max_pending_approvals
        if decision.verdict != "require_approval" or cap is None or ctx.pending_approvals < cap:
            return decision
        return Decision.deny(
            rule=APPROVAL_CAP_RULE,
            reason=(
                f"not queued for approval: this run already has {ctx.pending_approvals} calls waiting for a "
                f"person (at most {cap} at a time). Wait for those decisions, then ask again for what is "
                "still needed, in fewer and larger calls where the tool takes a batch."
            ),
        )

    @staticmethod
    def _run_rule(rule: PolicyRule, call: ToolCallRequest, ctx: PolicyContext) -> Decision | RuleFailure | None:
        try:
            outcome = _checked(rule.evaluate(call, ctx))
        except Exception as error:  # fail closed: whatever went wrong, the call does not run
            return _failure(rule.name, error)
        return outcome


def build_policy_engine(config: PolicyConfig) -> PolicyEngine:
    """The engine with every built-in rule, configured from `config` and versioned by it.

    Hard limits run first, so that when several rules deny, the model hears about the one it can fix
    by reshaping the call; among approvals the specific reasons (spend, recipients) come before the
    tool's blanket requirement. The provenance rule comes last, so the rule recorded for a call does not
    change when outside data also named its values (a benign lead sync is still the tool's own
    requirement); but its reason is the most specific of all (a value only outside data named may be an
    injection), so an approver reads it first, before the other approving rules' reasons.
    """
    rate_limits = RateLimitRule(
        limits={
            tool_name: RateLimit(
                max_calls=limit.max_calls,
                window=timedelta(seconds=limit.window_seconds),
                max_calls_per_run=limit.max_calls_per_run,
                global_max_calls=limit.ceiling,
            )
            for tool_name, limit in config.rate_limits.items()
        }
    )
    rules: list[PolicyRule] = [
        UnknownToolRule(),
        BatchLimitRule(
            config_limits={name: tool.max_batch for name, tool in config.tools.items() if tool.max_batch is not None}
        ),
        rate_limits,
        SpendThresholdRule(
            max_run_spend_usd=config.max_run_spend_usd,
            max_items_without_approval=config.max_items_without_approval,
        ),
        CumulativeSpendRule(
            max_conversation_spend_usd=config.max_conversation_spend_usd,
            max_requester_daily_spend_usd=config.max_requester_daily_spend_usd,
            max_daily_spend_usd=config.max_daily_spend_usd,
        ),
        OutboundEmailDomainsRule(allowed_domains=frozenset(config.allowed_email_domains)),
        EgressRule(deny=config.egress_findings == "deny"),
        ToolMetadataApprovalRule(
            overrides={
                name: tool.requires_approval
                for name, tool in config.tools.items()
                if tool.requires_approval is not None
            }
        ),
    ]
    reasons_first: list[str] = ["egress"]
    if config.require_approval_for_untrusted_values:
        provenance = ProvenanceRule()
        rules.append(provenance)
        reasons_first.append(provenance.name)
    return PolicyEngine(
        rules,
        version=config.version,
        lookback=rate_limits.lookback,
        reasons_first=reasons_first,
        max_pending_approvals=config.max_pending_approvals_per_run,
    )
