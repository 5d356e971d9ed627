"""Each built-in rule on its own: no opinion, deny and approval cases, with the reasons pinned."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from inline_snapshot import snapshot

from signoff.policies.context import CallRecord, PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision
from signoff.policies.rules import (
    BatchLimitRule,
    OutboundEmailDomainsRule,
    RateLimit,
    RateLimitRule,
    SpendThresholdRule,
    ToolMetadataApprovalRule,
    UnknownToolRule,
)
from signoff.tools.registry import ToolRegistry

MakeCall = Callable[..., ToolCallRequest]
MakeContext = Callable[..., PolicyContext]
Contacts = Callable[[int], list[dict[str, Any]]]


# unknown_tool


def test_unknown_tool_is_denied_with_the_available_tools(make_ctx: MakeContext) -> None:
    call = ToolCallRequest(tool_name="drop_database", spec=None, args={"really": True})
    assert UnknownToolRule().evaluate(call, make_ctx()) == snapshot(
        Decision(
            verdict="deny",
            reason=(
                "unknown tool 'drop_database'; available: delete_contacts, enrich_leads, find_leads, get_account, "
                "send_outreach_email, sync_contacts_to_crm"
            ),
            rule="unknown_tool",
        )
    )


def test_unknown_tool_with_a_huge_name_keeps_the_reason_short(make_ctx: MakeContext) -> None:
    call = ToolCallRequest(tool_name="x" * 10_000, spec=None, args={})
    decision = UnknownToolRule().evaluate(call, make_ctx(available_tools=frozenset()))
    assert decision is not None
    assert decision.verdict == "deny"
    assert len(decision.reason) < 150
    assert decision.reason.endswith("available: (none)")


def test_spec_registered_under_another_name_is_denied(make_ctx: MakeContext, registry: ToolRegistry) -> None:
    call = ToolCallRequest(tool_name="get_acount", spec=registry.require("get_account"), args={"account_id": "a"})
    decision = UnknownToolRule().evaluate(call, make_ctx())
    assert decision is not None
    assert decision.verdict == "deny"


def test_known_tool_has_no_opinion_from_unknown_tool(make_call: MakeCall, make_ctx: MakeContext) -> None:
    assert UnknownToolRule().evaluate(make_call("get_account", account_id="a"), make_ctx()) is None


# tool_metadata_approval


def test_tool_that_always_needs_approval(make_call: MakeCall, make_ctx: MakeContext, make_contacts: Contacts) -> None:
    call = make_call("sync_contacts_to_crm", contacts=make_contacts(2))
    assert ToolMetadataApprovalRule().evaluate(call, make_ctx()) == snapshot(
        Decision(
            verdict="require_approval",
            reason="'sync_contacts_to_crm' requires human approval for this call",
            rule="tool_metadata_approval",
        )
    )


def test_approval_predicate_sees_the_arguments(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = ToolMetadataApprovalRule()
    assert rule.evaluate(make_call("delete_contacts", contact_ids=["c1"]), make_ctx()) is None
    assert rule.evaluate(make_call("delete_contacts", contact_ids=["c1", "c2"]), make_ctx()) == snapshot(
        Decision(
            verdict="require_approval",
            reason="'delete_contacts' is destructive and requires human approval for this call",
            rule="tool_metadata_approval",
        )
    )


def test_tool_without_approval_metadata_has_no_opinion(make_call: MakeCall, make_ctx: MakeContext) -> None:
    assert ToolMetadataApprovalRule().evaluate(make_call("get_account", account_id="a"), make_ctx()) is None


def test_config_override_replaces_the_metadata(
    make_call: MakeCall, make_ctx: MakeContext, make_contacts: Contacts
) -> None:
    rule = ToolMetadataApprovalRule(overrides={"sync_contacts_to_crm": False, "get_account": True})
    assert rule.evaluate(make_call("sync_contacts_to_crm", contacts=make_contacts(2)), make_ctx()) is None
    assert rule.evaluate(make_call("get_account", account_id="a"), make_ctx()) == snapshot(
        Decision(
            verdict="require_approval",
            reason="the policy config requires approval for every 'get_account' call",
            rule="tool_metadata_approval",
        )
    )


def test_unknown_tool_has_no_opinion_from_other_rules(make_ctx: MakeContext) -> None:
    call = ToolCallRequest(tool_name="nope", spec=None, args={"to": ["a@b.c"], "contacts": [1] * 100})
    rules = [
        ToolMetadataApprovalRule(),
        BatchLimitRule(),
        SpendThresholdRule(),
        RateLimitRule(limits={"*": RateLimit(max_calls=1, window=timedelta(seconds=60))}),
        OutboundEmailDomainsRule(),
    ]
    assert [rule.evaluate(call, make_ctx()) for rule in rules] == [None] * len(rules)


# batch_limit


def test_batch_at_the_limit_is_fine(make_call: MakeCall, make_ctx: MakeContext, make_contacts: Contacts) -> None:
    assert BatchLimitRule().evaluate(make_call("sync_contacts_to_crm", contacts=make_contacts(10)), make_ctx()) is None


def test_batch_above_the_limit_is_denied_with_a_split_instruction(
    make_call: MakeCall, make_ctx: MakeContext, make_contacts: Contacts
) -> None:
    call = make_call("sync_contacts_to_crm", contacts=make_contacts(12))
    assert BatchLimitRule().evaluate(call, make_ctx()) == snapshot(
        Decision(
            verdict="deny",
            reason=(
                "sync_contacts_to_crm accepts at most 10 contacts per call; you sent 12. Split the batch into calls of "
                "at most 10 and try again."
            ),
            rule="batch_limit",
        )
    )
    assert len(call.args["contacts"]) == 12, "the rule never truncates"


def test_integer_batch_argument(make_call: MakeCall, make_ctx: MakeContext) -> None:
    assert BatchLimitRule().evaluate(make_call("find_leads", query="saas", limit=80), make_ctx()) == snapshot(
        Decision(
            verdict="deny",
            reason=(
                "find_leads accepts limit of at most 50 per call; you asked for 80. Make several calls with limit of "
                "at most 50 and try again."
            ),
            rule="batch_limit",
        )
    )


def test_config_may_lower_the_limit(make_call: MakeCall, make_ctx: MakeContext, make_contacts: Contacts) -> None:
    rule = BatchLimitRule(config_limits={"sync_contacts_to_crm": 5})
    assert rule.evaluate(make_call("sync_contacts_to_crm", contacts=make_contacts(5)), make_ctx()) is None
    decision = rule.evaluate(make_call("sync_contacts_to_crm", contacts=make_contacts(6)), make_ctx())
    assert decision is not None
    assert decision.reason.startswith("sync_contacts_to_crm accepts at most 5 contacts per call; you sent 6.")


def test_config_can_never_raise_the_limit(make_call: MakeCall, make_ctx: MakeContext, make_contacts: Contacts) -> None:
    rule = BatchLimitRule(config_limits={"sync_contacts_to_crm": 1000})
    decision = rule.evaluate(make_call("sync_contacts_to_crm", contacts=make_contacts(11)), make_ctx())
    assert decision is not None
    assert decision.verdict == "deny"


def test_config_limit_applies_to_a_batch_tool_without_its_own_limit(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = BatchLimitRule(config_limits={"delete_contacts": 2})
    assert BatchLimitRule().evaluate(make_call("delete_contacts", contact_ids=["a"] * 500), make_ctx()) is None
    decision = rule.evaluate(make_call("delete_contacts", contact_ids=["a", "b", "c"]), make_ctx())
    assert decision is not None
    assert decision.verdict == "deny"


# spend_threshold


def test_spend_within_budget(make_call: MakeCall, make_ctx: MakeContext) -> None:
    call = make_call("enrich_leads", emails=["a@x.io"] * 10)  # 10 × $0.50 = $5.00
    assert SpendThresholdRule().evaluate(call, make_ctx(run_spend_usd=Decimal("15.00"))) is None


def test_spend_above_budget_needs_approval(make_call: MakeCall, make_ctx: MakeContext) -> None:
    call = make_call("enrich_leads", emails=["a@x.io"] * 10)
    assert SpendThresholdRule().evaluate(call, make_ctx(run_spend_usd=Decimal("15.01"))) == snapshot(
        Decision(
            verdict="require_approval",
            reason=(
                "enrich_leads: this call would cost about $5.00 (10 × $0.50); with $15.01 already spent, the run would "
                "reach $20.01, above the $20.00 a run may spend without approval"
            ),
            rule="spend_threshold",
        )
    )


def test_too_many_items_need_approval(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = SpendThresholdRule()
    assert rule.evaluate(make_call("find_leads", query="saas", limit=10), make_ctx()) is None
    assert rule.evaluate(make_call("find_leads", query="saas", limit=11), make_ctx()) == snapshot(
        Decision(
            verdict="require_approval",
            reason="find_leads: this call touches 11 items; calls with more than 10 items need approval",
            rule="spend_threshold",
        )
    )


def test_both_thresholds_are_reported(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = SpendThresholdRule(max_run_spend_usd=Decimal("1.00"), max_items_without_approval=2)
    assert rule.evaluate(make_call("enrich_leads", emails=["a@x.io"] * 3), make_ctx()) == snapshot(
        Decision(
            verdict="require_approval",
            reason=(
                "enrich_leads: this call would cost about $1.50 (3 × $0.50); with $0.00 already spent, the run would "
                "reach $1.50, above the $1.00 a run may spend without approval; this call touches 3 items; calls with "
                "more than 2 items need approval"
            ),
            rule="spend_threshold",
        )
    )


def test_free_calls_are_not_held_by_the_spend_budget(make_call: MakeCall, make_ctx: MakeContext) -> None:
    call = make_call("get_account", account_id="a")
    assert SpendThresholdRule().evaluate(call, make_ctx(run_spend_usd=Decimal("999"))) is None


def test_sub_cent_costs_are_shown_exactly(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = SpendThresholdRule(max_run_spend_usd=Decimal("0.00"))
    decision = rule.evaluate(make_call("find_leads", query="saas", limit=1), make_ctx(run_spend_usd=Decimal("0.001")))
    assert decision is not None
    assert "$0.05 (1 × $0.05)" in decision.reason
    assert "with $0.001 already spent, the run would reach $0.051" in decision.reason


# rate_limit


def _records(tool_name: str, ctx: PolicyContext, *seconds_ago: int) -> tuple[CallRecord, ...]:
    return tuple(
        CallRecord(tool_name=tool_name, at=ctx.now - timedelta(seconds=s), items=1, estimated_cost_usd=Decimal(0))
        for s in seconds_ago
    )


def test_rate_limit_below_the_limit(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = RateLimitRule(limits={"get_account": RateLimit(max_calls=3, window=timedelta(seconds=60))})
    ctx = make_ctx()
    ctx = make_ctx(recent_calls=_records("get_account", ctx, 10, 20) + _records("find_leads", ctx, 1, 2, 3))
    assert rule.evaluate(make_call("get_account", account_id="a"), ctx) is None


def test_rate_limit_at_the_limit_denies_with_a_retry_time(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = RateLimitRule(limits={"get_account": RateLimit(max_calls=3, window=timedelta(seconds=60))})
    ctx = make_ctx()
    ctx = make_ctx(recent_calls=_records("get_account", ctx, 5, 20, 45, 60, 90))  # 60 and 90 are outside
    assert rule.evaluate(make_call("get_account", account_id="a"), ctx) == snapshot(
        Decision(
            verdict="deny",
            reason=(
                "rate limit for get_account (per requester): at most 3 calls per 60 seconds, and 3 ran in the last "
                "60 seconds. Retry in 15 seconds (after 2025-03-14T09:30:15+00:00)."
            ),
            rule="rate_limit",
        )
    )


def test_rate_limit_retry_waits_for_enough_calls_to_leave_the_window(
    make_call: MakeCall, make_ctx: MakeContext
) -> None:
    rule = RateLimitRule(limits={"get_account": RateLimit(max_calls=2, window=timedelta(seconds=60))})
    ctx = make_ctx()
    ctx = make_ctx(recent_calls=_records("get_account", ctx, 50, 40, 30, 20))
    decision = rule.evaluate(make_call("get_account", account_id="a"), ctx)
    assert decision is not None
    # Four calls in the window and room for two: the call 30 seconds ago must leave first.
    assert "and 4 ran in the last 60 seconds. Retry in 30 seconds" in decision.reason


def test_rate_limit_wildcard_and_specific(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = RateLimitRule(
        limits={
            "*": RateLimit(max_calls=1, window=timedelta(seconds=60)),
            "get_account": RateLimit(max_calls=5, window=timedelta(seconds=60)),
        }
    )
    ctx = make_ctx()
    ctx = make_ctx(recent_calls=_records("get_account", ctx, 1) + _records("find_leads", ctx, 1))
    assert rule.evaluate(make_call("get_account", account_id="a"), ctx) is None
    decision = rule.evaluate(make_call("find_leads", query="q", limit=1), ctx)
    assert decision is not None
    assert decision.verdict == "deny"
    assert rule.lookback == timedelta(seconds=60)


def test_no_rate_limit_configured(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = RateLimitRule()
    ctx = make_ctx()
    ctx = make_ctx(recent_calls=_records("get_account", ctx, *range(100)))
    assert rule.evaluate(make_call("get_account", account_id="a"), ctx) is None
    assert rule.lookback == timedelta(0)


# outbound_email_domains


def _email(make_call: MakeCall, *to: str) -> ToolCallRequest:
    return make_call("send_outreach_email", to=list(to), subject="Hello", body="Hi there")


def test_allowed_domain_and_known_recipients_are_fine(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = OutboundEmailDomainsRule(allowed_domains=frozenset({"acme.io"}))
    call = _email(make_call, "Ana@Acme.io", "bo@globex.com")
    assert rule.evaluate(call, make_ctx(known_recipients=frozenset({"BO@globex.com"}))) is None


def test_unknown_recipients_need_approval(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = OutboundEmailDomainsRule(allowed_domains=frozenset({"acme.io"}))
    call = _email(make_call, "ana@acme.io", "cy@mail.acme.io", "dee@initech.com", "dee@initech.com", "no-domain")
    assert rule.evaluate(call, make_ctx()) == snapshot(
        Decision(
            verdict="require_approval",
            reason=(
                "send_outreach_email would email recipients outside the allowed domains who are not contacts: "
                "cy@mail.acme.io, dee@initech.com, no-domain"
            ),
            rule="outbound_email_domains",
        )
    )


def test_many_unknown_recipients_are_abbreviated(make_call: MakeCall, make_ctx: MakeContext) -> None:
    call = _email(make_call, *(f"p{i}@x.com" for i in range(13)))
    decision = OutboundEmailDomainsRule().evaluate(call, make_ctx())
    assert decision is not None
    assert decision.reason.endswith("p8@x.com, p9@x.com and 3 more")


def test_tools_without_recipients_have_no_opinion(make_call: MakeCall, make_ctx: MakeContext) -> None:
    assert OutboundEmailDomainsRule().evaluate(make_call("get_account", account_id="a"), make_ctx()) is None
    assert OutboundEmailDomainsRule().evaluate(_email(make_call), make_ctx()) is None


@pytest.mark.parametrize(
    "rule",
    [
        UnknownToolRule(),
        ToolMetadataApprovalRule(),
        BatchLimitRule(),
        SpendThresholdRule(),
        RateLimitRule(),
        OutboundEmailDomainsRule(),
    ],
)
def test_rule_names_are_stable(rule: Any) -> None:
    # Names are recorded with every decision and approval; renaming one is a data migration.
    assert rule.name in {
        "unknown_tool",
        "tool_metadata_approval",
        "batch_limit",
        "spend_threshold",
        "rate_limit",
        "outbound_email_domains",
    }
