"""Budgets that cannot be split over runs, rate limits per requester, and the cap on waiting approvals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from inline_snapshot import snapshot

from signoff.policies import CumulativeSpend, Decision, PolicyConfig, PolicyConfigError, build_policy_engine
from signoff.policies.config import parse_policy_config
from signoff.policies.context import CallRecord
from signoff.policies.rules import CumulativeSpendRule, RateLimit, RateLimitRule
from tests.policies.conftest import NOW, RUN_ID, MakeCall, MakeContext


def test_a_costly_call_over_a_cumulative_limit_needs_a_person_showing_every_limit(
    make_call: MakeCall, make_ctx: MakeContext
) -> None:
    rule = CumulativeSpendRule()
    # Ten runs of $4.50 each stayed under the per-run budget, but the conversation has spent $45.
    ctx = make_ctx(
        requested_by="ana",
        cumulative_spend=CumulativeSpend(
            conversation_usd=Decimal("45.00"), requester_today_usd=Decimal("60.00"), everyone_today_usd=Decimal("90")
        ),
    )
    decision = rule.evaluate(make_call("enrich_leads", emails=[f"p{i}@acme.io" for i in range(12)]), ctx)
    assert decision == snapshot(
        Decision(
            verdict="require_approval",
            reason=(
                "enrich_leads would cost about $6.00 and take spend over the limit for this conversation; with this "
                "call: this conversation: $51.00 of $50.00 (over); ana today: $66.00 of $100.00; everyone today: "
                "$96.00 of $500.00"
            ),
            rule="cumulative_spend",
        )
    )


def test_under_every_cumulative_limit_or_free_no_opinion(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = CumulativeSpendRule()
    spent = CumulativeSpend(conversation_usd=Decimal("49"), requester_today_usd=Decimal("99"))
    assert rule.evaluate(make_call("find_leads", query="q", limit=10), make_ctx(cumulative_spend=spent)) is None
    # A free call never crosses a spend limit, however much was spent.
    over = CumulativeSpend(conversation_usd=Decimal("900"), everyone_today_usd=Decimal("900"))
    assert rule.evaluate(make_call("get_account", account_id="a"), make_ctx(cumulative_spend=over)) is None


def test_the_requester_and_daily_limits_apply_too(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = CumulativeSpendRule(max_conversation_spend_usd=None)
    spent = CumulativeSpend(requester_today_usd=Decimal("99.90"), everyone_today_usd=Decimal("499.90"))
    decision = rule.evaluate(make_call("find_leads", query="q", limit=10), make_ctx(cumulative_spend=spent))
    assert decision is not None
    assert "over the limit for this requester today and everyone today" in decision.reason
    assert "this conversation" not in decision.reason  # a limit that is off is not shown


def records(ctx_run: str, requester: str, *seconds_ago: int) -> tuple[CallRecord, ...]:
    return tuple(
        CallRecord(
            tool_name="get_account",
            at=NOW - timedelta(seconds=s),
            items=1,
            estimated_cost_usd=Decimal(0),
            run_id=ctx_run,
            requested_by=requester,
        )
        for s in seconds_ago
    )


def test_one_users_runaway_run_does_not_refuse_another_users_calls(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = RateLimitRule(
        limits={"get_account": RateLimit(max_calls=3, window=timedelta(seconds=60), global_max_calls=10)}
    )
    runaway = records("run-other", "mallory", 1, 2, 3, 4, 5, 6)
    call = make_call("get_account", account_id="a")
    assert rule.evaluate(call, make_ctx(requested_by="ana", recent_calls=runaway)) is None
    refused = rule.evaluate(call, make_ctx(requested_by="mallory", run_id="run-other", recent_calls=runaway))
    assert refused is not None and "(per requester): at most 3 calls" in refused.reason


def test_the_global_ceiling_protects_the_vendor(make_call: MakeCall, make_ctx: MakeContext) -> None:
    rule = RateLimitRule(
        limits={"get_account": RateLimit(max_calls=3, window=timedelta(seconds=60), global_max_calls=6)}
    )
    many_users = sum((records(f"run-{i}", f"user{i}", 1, 2) for i in range(3)), ())
    refused = rule.evaluate(
        make_call("get_account", account_id="a"), make_ctx(requested_by="ana", recent_calls=many_users)
    )
    assert refused is not None and "(for all requesters together): at most 6 calls" in refused.reason


def test_a_run_limit_keeps_one_run_from_using_its_requesters_whole_quota(
    make_call: MakeCall, make_ctx: MakeContext
) -> None:
    rule = RateLimitRule(
        limits={"get_account": RateLimit(max_calls=5, window=timedelta(seconds=60), max_calls_per_run=2)}
    )
    own_run = records(RUN_ID, "ana", 1, 2)
    refused = rule.evaluate(
        make_call("get_account", account_id="a"), make_ctx(requested_by="ana", recent_calls=own_run)
    )
    assert refused is not None and "(per run): at most 2 calls" in refused.reason
    other_run = records("run-2", "ana", 1, 2)
    assert (
        rule.evaluate(make_call("get_account", account_id="a"), make_ctx(requested_by="ana", recent_calls=other_run))
        is None
    )


def test_rate_limit_config_refuses_a_ceiling_one_requester_can_reach() -> None:
    with pytest.raises(PolicyConfigError, match="global_max_calls must be above max_calls"):
        parse_policy_config('[rate_limits."*"]\nmax_calls = 30\nwindow_seconds = 60\nglobal_max_calls = 30\n')
    with pytest.raises(PolicyConfigError, match="max_calls_per_run must not be above max_calls"):
        parse_policy_config('[rate_limits."*"]\nmax_calls = 3\nwindow_seconds = 60\nmax_calls_per_run = 4\n')
    # Unset, the ceiling is ten times one requester's limit.
    assert PolicyConfig().rate_limits["*"].ceiling == 300


def test_a_flood_of_approvals_in_one_run_is_capped(make_call: MakeCall, make_ctx: MakeContext) -> None:
    engine = build_policy_engine(PolicyConfig(max_pending_approvals_per_run=2))
    call = make_call("sync_contacts_to_crm", contacts=[{"email": "a@acme.io", "name": "A"}])
    assert engine.evaluate(call, make_ctx(pending_approvals=1)).verdict == "require_approval"
    capped = engine.evaluate(call, make_ctx(pending_approvals=2))
    assert capped == snapshot(
        Decision(
            verdict="deny",
            reason=(
                "not queued for approval: this run already has 2 calls waiting for a person (at most 2 at a time). "
                "Wait for those decisions, then ask again for what is still needed, in fewer and larger calls where "
                "the tool takes a batch."
            ),
            rule="approval_cap",
        )
    )
    # Calls that need no person are not affected.
    assert engine.evaluate(make_call("get_account", account_id="a"), make_ctx(pending_approvals=9)).verdict == "allow"


def test_the_new_options_are_in_the_versioned_config() -> None:
    assert PolicyConfig().version != PolicyConfig(max_conversation_spend_usd=Decimal("60")).version
    with pytest.raises(PolicyConfigError, match="whole number of cents"):
        parse_policy_config("max_daily_spend_usd = 1.234\n")
