"""The built-in policy rules, one module each, and the version of their combined behaviour."""

from signoff.policies.rules.base import PolicyRule
from signoff.policies.rules.batch_limit import BatchLimitRule
from signoff.policies.rules.cumulative_spend import (
    DEFAULT_MAX_CONVERSATION_SPEND_USD,
    DEFAULT_MAX_DAILY_SPEND_USD,
    DEFAULT_MAX_REQUESTER_DAILY_SPEND_USD,
    CumulativeSpendRule,
)
from signoff.policies.rules.egress import EgressRule
from signoff.policies.rules.outbound_email_domains import OutboundEmailDomainsRule
from signoff.policies.rules.provenance import ProvenanceRule
from signoff.policies.rules.rate_limit import WILDCARD_TOOL, RateLimit, RateLimitRule
from signoff.policies.rules.spend_threshold import (
    DEFAULT_MAX_ITEMS_WITHOUT_APPROVAL,
    DEFAULT_MAX_RUN_SPEND_USD,
    SpendThresholdRule,
)
from signoff.policies.rules.tool_metadata_approval import ToolMetadataApprovalRule
from signoff.policies.rules.unknown_tool import UnknownToolRule

__all__ = [
    "DEFAULT_MAX_CONVERSATION_SPEND_USD",
    "DEFAULT_MAX_DAILY_SPEND_USD",
    "DEFAULT_MAX_ITEMS_WITHOUT_APPROVAL",
    "DEFAULT_MAX_REQUESTER_DAILY_SPEND_USD",
    "DEFAULT_MAX_RUN_SPEND_USD",
    "RULESET_VERSION",
    "WILDCARD_TOOL",
    "BatchLimitRule",
    "CumulativeSpendRule",
    "EgressRule",
    "OutboundEmailDomainsRule",
    "PolicyRule",
    "ProvenanceRule",
    "RateLimit",
    "RateLimitRule",
    "SpendThresholdRule",
    "ToolMetadataApprovalRule",
    "UnknownToolRule",
]

RULESET_VERSION = "ruleset-3"
"""Part of every policy version. Bump it whenever a built-in rule's behaviour changes, so that approvals
bound to an older policy version are not mistaken for decisions under the new rules.
(ruleset-2: the provenance rule; ruleset-3: egress, cumulative spend limits, per-requester rate limits,
the cap on pending approvals per run.)"""
