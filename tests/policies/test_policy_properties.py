"""Properties that must hold for every input: decisions never raise, failures deny, limits are monotonic."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signoff.policies.config import PolicyConfig
from signoff.policies.context import CallRecord, PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision
from signoff.policies.engine import PolicyEngine, build_policy_engine
from signoff.tools.registry import ToolRegistry

MakeCall = Callable[..., ToolCallRequest]

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
TOOL_NAMES = [
    "find_leads",
    "enrich_leads",
    "sync_contacts_to_crm",
    "send_outreach_email",
    "delete_contacts",
    "get_account",
]
ARG_NAMES = ["query", "limit", "emails", "contacts", "to", "subject", "body", "contact_ids", "account_id"]
DOMAINS = ["acme.io", "globex.com", "initech.com"]
ADDRESSES = [f"{user}@{domain}" for user in ("ana", "bo", "cy") for domain in DOMAINS]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=30) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=40,
)
money = st.decimals(min_value=0, max_value=1000, places=2)
configs = st.builds(
    lambda spend, items, domains, overrides: PolicyConfig.model_validate(
        {
            "max_run_spend_usd": spend,
            "max_items_without_approval": items,
            "allowed_email_domains": domains,
            "tools": overrides,
            "rate_limits": {"*": {"max_calls": 3, "window_seconds": 60}},
        }
    ),
    money,
    st.integers(min_value=0, max_value=30),
    st.lists(st.sampled_from(DOMAINS), unique=True),
    st.dictionaries(
        st.sampled_from(TOOL_NAMES),
        st.fixed_dictionaries(
            {},
            optional={"requires_approval": st.booleans(), "max_batch": st.integers(min_value=1, max_value=10)},
        ),
    ),
)


@st.composite
def contexts(draw: st.DrawFn) -> PolicyContext:
    recent = draw(
        st.lists(
            st.builds(
                CallRecord,
                tool_name=st.sampled_from(TOOL_NAMES) | st.text(max_size=10),
                at=st.integers(min_value=-600, max_value=600).map(lambda s: NOW - timedelta(seconds=s)),
                items=st.integers(min_value=0, max_value=100),
                estimated_cost_usd=money,
            ),
            max_size=10,
        )
    )
    return PolicyContext(
        run_id="run-prop",
        now=NOW,
        run_spend_usd=draw(money),
        recent_calls=tuple(recent),
        known_recipients=frozenset(draw(st.lists(st.sampled_from(ADDRESSES)))),
        available_tools=frozenset(TOOL_NAMES),
    )


# (a) any tool name and any JSON-shaped arguments get a Decision, and nothing raises


@given(
    tool_name=st.sampled_from(TOOL_NAMES) | st.text(max_size=200),
    args=st.dictionaries(st.sampled_from(ARG_NAMES) | st.text(max_size=10), json_values, max_size=6),
    config=configs,
    ctx=contexts(),
)
def test_every_call_gets_a_decision(
    registry: ToolRegistry, tool_name: str, args: dict[str, Any], config: PolicyConfig, ctx: PolicyContext
) -> None:
    engine = build_policy_engine(config)
    call = ToolCallRequest(tool_name=tool_name, spec=registry.get(tool_name), args=args)
    decision = engine.evaluate(call, ctx)
    assert isinstance(decision, Decision)
    assert decision.verdict in {"allow", "require_approval", "deny"}
    assert decision.rule
    if registry.get(tool_name) is None:
        assert (decision.verdict, decision.rule) == ("deny", "unknown_tool")
    assert len(engine.explain(call, ctx)) == len(engine.rules)


# (b) a rule raising any exception type denies, under its name, without the exception's text


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("cannot print me")


EXCEPTION_TYPES = [
    value for value in vars(builtins).values() if isinstance(value, type) and issubclass(value, Exception)
] + [UnprintableError]


@dataclass(frozen=True, kw_only=True)
class ExplodingRule:
    name: str
    error: Exception

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        raise self.error


def _make_error(error_type: type[Exception], message: str) -> Exception:
    if issubclass(error_type, ExceptionGroup):
        return error_type(message, [ValueError(message)])
    error = error_type.__new__(error_type)  # some builtins need several constructor arguments
    error.args = (message,)
    return error


@pytest.mark.parametrize("error_type", EXCEPTION_TYPES, ids=lambda t: t.__name__)
def test_every_builtin_exception_type_denies(make_call: MakeCall, error_type: type[Exception]) -> None:
    engine = PolicyEngine(
        [ExplodingRule(name="exploding", error=_make_error(error_type, "ana@acme.io"))],
        version="v",
        lookback=timedelta(0),
    )
    ctx = PolicyContext(run_id="r", now=NOW)
    decision = engine.evaluate(make_call("get_account", account_id="acct-1"), ctx)
    assert decision == Decision.deny(rule="exploding", reason="policy rule 'exploding' failed; the call was blocked")


@given(
    error_type=st.sampled_from(EXCEPTION_TYPES),
    message=st.text(min_size=1, max_size=50),
    rule_name=st.text(min_size=1, max_size=30),
    position=st.integers(min_value=0, max_value=6),
)
def test_any_exception_in_a_rule_denies(
    make_call: MakeCall, error_type: type[Exception], message: str, rule_name: str, position: int
) -> None:
    error = _make_error(error_type, message)
    rules = list(build_policy_engine(PolicyConfig()).rules)
    if rule_name in {rule.name for rule in rules}:
        rule_name += "_exploding"
    rules.insert(position, ExplodingRule(name=rule_name, error=error))
    engine = PolicyEngine(rules, version="v", lookback=timedelta(0))
    ctx = PolicyContext(run_id="r", now=NOW, available_tools=frozenset(TOOL_NAMES))
    decision = engine.evaluate(make_call("get_account", account_id="acct-1"), ctx)
    assert decision == Decision.deny(rule=rule_name, reason=f"policy rule {rule_name!r} failed; the call was blocked")


# (c) monotonicity: more items or more run spend never weakens the decision


def _args_for(tool_name: str, addresses: list[str]) -> dict[str, Any]:
    match tool_name:
        case "find_leads":
            return {"query": "saas", "limit": len(addresses)}
        case "enrich_leads":
            return {"emails": addresses}
        case "sync_contacts_to_crm":
            return {"contacts": [{"email": a, "name": a.split("@")[0]} for a in addresses]}
        case "send_outreach_email":
            return {"to": addresses, "subject": "Hello", "body": "Hi"}
        case "delete_contacts":
            return {"contact_ids": addresses}
        case _:
            return {"account_id": "acct-1"}


@given(
    tool_name=st.sampled_from(TOOL_NAMES),
    addresses=st.lists(st.sampled_from(ADDRESSES), max_size=40),
    cut=st.integers(min_value=0, max_value=40),
    config=configs,
    ctx=contexts(),
)
def test_a_larger_batch_is_never_treated_more_leniently(
    make_call: MakeCall, tool_name: str, addresses: list[str], cut: int, config: PolicyConfig, ctx: PolicyContext
) -> None:
    engine = build_policy_engine(config)
    smaller = engine.evaluate(make_call(tool_name, **_args_for(tool_name, addresses[:cut])), ctx)
    larger = engine.evaluate(make_call(tool_name, **_args_for(tool_name, addresses)), ctx)
    assert larger.strictness >= smaller.strictness, (smaller, larger)


@given(
    tool_name=st.sampled_from(TOOL_NAMES),
    addresses=st.lists(st.sampled_from(ADDRESSES), max_size=40),
    spends=st.lists(money, min_size=2, max_size=2).map(sorted),
    config=configs,
    ctx=contexts(),
)
def test_a_higher_run_spend_is_never_treated_more_leniently(
    make_call: MakeCall,
    tool_name: str,
    addresses: list[str],
    spends: list[Decimal],
    config: PolicyConfig,
    ctx: PolicyContext,
) -> None:
    engine = build_policy_engine(config)
    call = make_call(tool_name, **_args_for(tool_name, addresses))
    lower = engine.evaluate(call, _with_spend(ctx, spends[0]))
    higher = engine.evaluate(call, _with_spend(ctx, spends[1]))
    assert higher.strictness >= lower.strictness, (lower, higher)


def _with_spend(ctx: PolicyContext, spend: Decimal) -> PolicyContext:
    return PolicyContext(
        run_id=ctx.run_id,
        now=ctx.now,
        run_spend_usd=spend,
        recent_calls=ctx.recent_calls,
        known_recipients=ctx.known_recipients,
        available_tools=ctx.available_tools,
    )


@given(
    tool_name=st.sampled_from(TOOL_NAMES),
    addresses=st.lists(st.sampled_from(ADDRESSES), max_size=40),
    config=configs,
    ctx=contexts(),
    rule_index=st.integers(min_value=0, max_value=5),
)
def test_removing_a_rule_never_makes_a_decision_stricter(
    make_call: MakeCall,
    tool_name: str,
    addresses: list[str],
    config: PolicyConfig,
    ctx: PolicyContext,
    rule_index: int,
) -> None:
    full = build_policy_engine(config)
    fewer = PolicyEngine(
        [rule for i, rule in enumerate(full.rules) if i != rule_index], version=full.version, lookback=full.lookback
    )
    call = make_call(tool_name, **_args_for(tool_name, addresses))
    assert full.evaluate(call, ctx).strictness >= fewer.evaluate(call, ctx).strictness
