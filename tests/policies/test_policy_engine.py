"""The engine: strictest opinion wins, failing rules deny (fail closed), explain shows every opinion."""

from __future__ import annotations

import runpy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from inline_snapshot import snapshot
from logfire.testing import CaptureLogfire

import signoff.policies.config
from signoff.policies.config import PolicyConfig
from signoff.policies.context import CallRecord, PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision
from signoff.policies.engine import DEFAULT_ALLOW_RULE, PolicyEngine, RuleFailure, RuleOpinion, build_policy_engine

MakeCall = Callable[..., ToolCallRequest]
MakeContext = Callable[..., PolicyContext]
Contacts = Callable[[int], list[dict[str, Any]]]

SECRET = "ana.secret@acme.io"


@dataclass(frozen=True, kw_only=True)
class FixedRule:
    """Always returns the same opinion."""

    name: str
    outcome: Decision | None

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        return self.outcome


@dataclass(frozen=True, kw_only=True)
class RaisingRule:
    """Raises an exception whose message quotes the arguments, as careless code would."""

    name: str = "leaky_rule"
    error: type[Exception] = KeyError

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        raise self.error(f"could not handle {dict(call.args)!r}")


@dataclass(frozen=True, kw_only=True)
class WrongTypeRule:
    name: str = "wrong_type"

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        return "allow"  # type: ignore[return-value]  # a rule outside the type checker's reach


def _engine(*rules: Any) -> PolicyEngine:
    return PolicyEngine(rules, version="sha256:test", lookback=timedelta(0))


def _email_call(make_call: MakeCall) -> ToolCallRequest:
    return make_call("send_outreach_email", to=[SECRET], subject="Pricing", body="Hi Ana")


def test_no_opinion_is_a_default_allow(make_call: MakeCall, make_ctx: MakeContext) -> None:
    engine = _engine(FixedRule(name="quiet", outcome=None))
    assert engine.evaluate(make_call("get_account", account_id="a"), make_ctx()) == snapshot(
        Decision(verdict="allow", reason="allowed", rule="default_allow")
    )
    assert DEFAULT_ALLOW_RULE == "default_allow"


def test_strictest_opinion_wins_and_first_wins_ties(make_call: MakeCall, make_ctx: MakeContext) -> None:
    engine = _engine(
        FixedRule(name="a", outcome=Decision.allow(rule="a")),
        FixedRule(name="b", outcome=Decision.require_approval(rule="b", reason="b says ask")),
        FixedRule(name="c", outcome=Decision.deny(rule="c", reason="c says no")),
        FixedRule(name="d", outcome=Decision.deny(rule="d", reason="d says no")),
    )
    assert engine.evaluate(make_call("get_account", account_id="a"), make_ctx()) == snapshot(
        Decision(verdict="deny", reason="c says no", rule="c")
    )


def test_an_approval_carries_every_approving_rules_reason_the_named_ones_first(
    make_call: MakeCall, make_ctx: MakeContext
) -> None:
    rules = [
        FixedRule(name="a", outcome=Decision.allow(rule="a", reason="a sees nothing wrong")),
        FixedRule(name="blanket", outcome=Decision.require_approval(rule="blanket", reason="the tool always asks")),
        FixedRule(name="quiet", outcome=None),
        FixedRule(name="recipients", outcome=Decision.require_approval(rule="recipients", reason="a new address")),
        FixedRule(name="echo", outcome=Decision.require_approval(rule="echo", reason="the tool always asks")),
        FixedRule(name="specific", outcome=Decision.require_approval(rule="specific", reason="planted address")),
    ]
    call = make_call("get_account", account_id="a")
    engine = PolicyEngine(rules, version="v", lookback=timedelta(0), reasons_first=["specific"])
    # The deciding rule (the first that asks) is recorded; the approver reads every reason, `specific` first.
    assert engine.evaluate(call, make_ctx()) == snapshot(
        Decision(
            verdict="require_approval",
            reason="planted address; the tool always asks; a new address",
            rule="blanket",
        )
    )
    assert _engine(*rules).evaluate(call, make_ctx()).reason == "the tool always asks; a new address; planted address"
    # A deny still speaks with one voice: the model gets the first deny's reason, not the approvals'.
    denying = _engine(*rules, FixedRule(name="no", outcome=Decision.deny(rule="no", reason="never")))
    assert denying.evaluate(call, make_ctx()) == Decision(verdict="deny", reason="never", rule="no")
    with pytest.raises(ValueError, match="reasons_first names no rule of this engine: 'absent'"):
        PolicyEngine(rules, version="v", lookback=timedelta(0), reasons_first=["absent"])


def test_a_raising_rule_denies_without_leaking_arguments(
    make_call: MakeCall, make_ctx: MakeContext, capfire: CaptureLogfire
) -> None:
    engine = _engine(FixedRule(name="fine", outcome=None), RaisingRule())
    decision = engine.evaluate(_email_call(make_call), make_ctx())
    assert decision == snapshot(
        Decision(verdict="deny", reason="policy rule 'leaky_rule' failed; the call was blocked", rule="leaky_rule")
    )
    exported = str(capfire.exporter.exported_spans_as_dict())
    assert SECRET not in exported
    assert "Pricing" not in exported
    errors = [s for s in capfire.exporter.exported_spans_as_dict() if s["attributes"].get("logfire.level_num") == 17]
    assert [e["attributes"]["rule"] for e in errors] == ["leaky_rule"]
    assert errors[0]["attributes"]["error_type"] == "KeyError"


def test_a_raising_rule_beats_an_allow_but_a_deny_before_it_is_kept(make_call: MakeCall, make_ctx: MakeContext) -> None:
    call = make_call("get_account", account_id="a")
    assert _engine(FixedRule(name="ok", outcome=Decision.allow(rule="ok")), RaisingRule()).evaluate(
        call, make_ctx()
    ).rule == snapshot("leaky_rule")
    first = FixedRule(name="first", outcome=Decision.deny(rule="first", reason="no"))
    assert _engine(first, RaisingRule()).evaluate(call, make_ctx()).rule == "first"


def test_a_rule_returning_a_non_decision_denies(make_call: MakeCall, make_ctx: MakeContext) -> None:
    decision = _engine(WrongTypeRule()).evaluate(make_call("get_account", account_id="a"), make_ctx())
    assert (decision.verdict, decision.rule) == ("deny", "wrong_type")


def test_a_raising_approval_predicate_denies(make_call: MakeCall, make_ctx: MakeContext) -> None:
    engine = build_policy_engine(PolicyConfig())
    call = ToolCallRequest(tool_name="delete_contacts", spec=make_call("get_account", account_id="a").spec, args={})
    # The spec above is get_account's: unknown_tool denies the mismatch before anything else runs.
    assert engine.evaluate(call, make_ctx()).rule == "unknown_tool"
    delete = make_call("delete_contacts", contact_ids=["c1"])
    broken = ToolCallRequest(tool_name="delete_contacts", spec=delete.spec, args={"contact_ids": 7})
    assert engine.evaluate(broken, make_ctx()) == snapshot(
        Decision(
            verdict="deny",
            reason="policy rule 'tool_metadata_approval' failed; the call was blocked",
            rule="tool_metadata_approval",
        )
    )


def test_one_span_per_decision_without_argument_values(
    make_call: MakeCall, make_ctx: MakeContext, capfire: CaptureLogfire
) -> None:
    engine = build_policy_engine(PolicyConfig())
    engine.evaluate(_email_call(make_call), make_ctx())
    spans = capfire.exporter.exported_spans_as_dict()
    assert len(spans) == 1
    attributes = spans[0]["attributes"]
    assert spans[0]["name"] == "policy decision {tool_name}"
    assert {k: attributes[k] for k in ("tool_name", "rule", "verdict", "policy_version")} == snapshot(
        {
            "tool_name": "send_outreach_email",
            "rule": "outbound_email_domains",
            "verdict": "require_approval",
            "policy_version": "sha256:c306acc26ccc32ec",
        }
    )
    assert SECRET not in str(spans)


def test_unknown_tool_is_denied_by_the_built_engine(make_ctx: MakeContext) -> None:
    engine = build_policy_engine(PolicyConfig())
    decision = engine.evaluate(ToolCallRequest(tool_name="rm_rf", spec=None, args={}), make_ctx())
    assert (decision.verdict, decision.rule) == ("deny", "unknown_tool")


def test_explain_shows_every_rule(make_call: MakeCall, make_ctx: MakeContext, make_contacts: Contacts) -> None:
    engine = build_policy_engine(PolicyConfig())
    call = make_call("sync_contacts_to_crm", contacts=make_contacts(12))
    assert engine.explain(call, make_ctx()) == snapshot(
        [
            RuleOpinion(rule="unknown_tool", outcome=None),
            RuleOpinion(
                rule="batch_limit",
                outcome=Decision(
                    verdict="deny",
                    reason=(
                        "sync_contacts_to_crm accepts at most 10 contacts per call; you sent 12. Split the batch into "
                        "calls of at most 10 and try again."
                    ),
                    rule="batch_limit",
                ),
            ),
            RuleOpinion(rule="rate_limit", outcome=None),
            RuleOpinion(
                rule="spend_threshold",
                outcome=Decision(
                    verdict="require_approval",
                    reason=(
                        "sync_contacts_to_crm: this call touches 12 items; calls with more than 10 items need approval"
                    ),
                    rule="spend_threshold",
                ),
            ),
            RuleOpinion(rule="cumulative_spend", outcome=None),
            RuleOpinion(rule="outbound_email_domains", outcome=None),
            RuleOpinion(rule="egress", outcome=None),
            RuleOpinion(
                rule="tool_metadata_approval",
                outcome=Decision(
                    verdict="require_approval",
                    reason="'sync_contacts_to_crm' requires human approval for this call",
                    rule="tool_metadata_approval",
                ),
            ),
            RuleOpinion(rule="provenance", outcome=None),
        ]
    )
    assert engine.evaluate(call, make_ctx()).rule == "batch_limit"


def test_explain_reports_failures_without_their_message(make_call: MakeCall, make_ctx: MakeContext) -> None:
    [(rule_name, outcome)] = _engine(RaisingRule(error=ValueError)).explain(_email_call(make_call), make_ctx())
    assert rule_name == "leaky_rule"
    assert isinstance(outcome, RuleFailure)
    assert outcome.error_type == "ValueError"
    assert outcome.location.endswith("test_policy_engine.py:" + outcome.location.rsplit(":", 1)[1])
    assert SECRET not in repr(outcome)


def test_built_engine_version_and_lookback() -> None:
    config = PolicyConfig.model_validate(
        {
            "rate_limits": {
                "*": {"max_calls": 30, "window_seconds": 60},
                "send_outreach_email": {"max_calls": 5, "window_seconds": 3600},
            }
        }
    )
    engine = build_policy_engine(config)
    assert engine.version == config.version
    assert engine.lookback == timedelta(hours=1)
    assert build_policy_engine(PolicyConfig(rate_limits={})).lookback == timedelta(0)


def test_built_engine_applies_the_config(make_call: MakeCall, make_ctx: MakeContext, make_contacts: Contacts) -> None:
    config = PolicyConfig.model_validate(
        {
            "max_run_spend_usd": "1.00",
            "allowed_email_domains": ["acme.io"],
            "tools": {"sync_contacts_to_crm": {"requires_approval": False, "max_batch": 3}},
            "rate_limits": {"get_account": {"max_calls": 1, "window_seconds": 10}},
        }
    )
    engine = build_policy_engine(config)
    ctx = make_ctx()

    def verdict(call: ToolCallRequest, context: PolicyContext = ctx) -> str:
        decision = engine.evaluate(call, context)
        return f"{decision.verdict}:{decision.rule}"

    assert verdict(make_call("sync_contacts_to_crm", contacts=make_contacts(3))) == "allow:default_allow"
    assert verdict(make_call("sync_contacts_to_crm", contacts=make_contacts(4))) == "deny:batch_limit"
    assert verdict(make_call("enrich_leads", emails=["a@acme.io"] * 3)) == "require_approval:spend_threshold"
    assert verdict(make_call("send_outreach_email", to=["a@acme.io"], subject="s", body="b")) == "allow:default_allow"
    recent = (CallRecord(tool_name="get_account", at=ctx.now, items=1, estimated_cost_usd=Decimal(0)),)
    busy = make_ctx(recent_calls=recent)
    assert verdict(make_call("get_account", account_id="a"), busy) == "deny:rate_limit"
    assert verdict(make_call("find_leads", query="q", limit=1), busy) == "allow:default_allow"


def test_rule_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="repeated: same"):
        _engine(FixedRule(name="same", outcome=None), FixedRule(name="same", outcome=None))


def test_lookback_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="lookback"):
        PolicyEngine([], version="v", lookback=timedelta(seconds=-1))


def test_public_api() -> None:
    # Run the package's __init__ by path: it must export exactly the documented names.
    namespace = runpy.run_path(str(Path(signoff.policies.config.__file__).with_name("__init__.py")))
    assert sorted(namespace["__all__"]) == snapshot(
        [
            "CallRecord",
            "CumulativeSpend",
            "Decision",
            "PolicyConfig",
            "PolicyConfigError",
            "PolicyContext",
            "PolicyEngine",
            "PolicyRule",
            "RULESET_VERSION",
            "RuleFailure",
            "RuleOpinion",
            "ToolCallRequest",
            "Verdict",
            "build_policy_engine",
            "combine",
            "load_policy_config",
            "strictest",
        ]
    )
    assert all(name in namespace for name in namespace["__all__"])
