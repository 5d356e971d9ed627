"""The provenance rule: values that only outside data mentioned need a person before a destructive call uses them."""

from __future__ import annotations

from typing import Any

import pytest
from inline_snapshot import snapshot

from signoff.policies import PolicyConfig, build_policy_engine
from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision
from signoff.policies.provenance import values_in, values_in_text
from signoff.policies.rules import ProvenanceRule
from signoff.tools.registry import ToolSpec
from tests.policies.conftest import NOW


async def send_email(to: str, subject: str, body: str) -> str:
    """Send one email."""
    return to


async def set_owner(email: str, owner: str) -> str:
    """Change a contact's owner."""
    return owner


async def read_notes(email: str) -> str:
    """Read a contact's notes."""
    return email


_SPECS = {
    spec.name: spec
    for spec in (
        ToolSpec(
            name="send_email",
            function=send_email,
            description="Send.",
            destructive=True,
            requires_approval=True,
            approval_summary="Email {{ to }}",
            recipients_arg="to",
        ),
        # Destructive but needing no approval of its own: the case where provenance is the only guard.
        ToolSpec(
            name="set_owner",
            function=set_owner,
            description="Owner.",
            destructive=True,
            requires_approval=False,
            approval_summary="Owner of {{ email }}: {{ owner }}",
        ),
        ToolSpec(
            name="read_notes",
            function=read_notes,
            description="Read.",
            destructive=False,
            requires_approval=False,
            approval_summary="Read {{ email }}",
            untrusted_output=True,
        ),
    )
}

# What a planted CRM note put in front of the model, and which tool returned it.
PLANTED = {
    "owner@poacher.example": "get_contact",
    "poacher.example": "get_contact",
    "ana@acme.io": "get_contact",
    "acme.io": "get_contact",
    "cmp_5eedc0ffee000001": "list_replies",
}
TASK = "look up ana@acme.io in the CRM and summarise her notes"


def _call(tool_name: str, **args: Any) -> ToolCallRequest:
    spec = _SPECS[tool_name]
    return ToolCallRequest(tool_name=tool_name, spec=spec, args=spec.validate_args(args))


def test_values_are_addresses_their_domains_hosts_and_ids() -> None:
    text = (
        "Ping Ana.Lopez@Acme.io or see https://linkedin.example/in/ana-1f2e; campaign cmp_5eedc0ffee000001, "
        "contact crm_0a1b2c3d. Not ids: company_domain, first_name. Not domains: e.g. 3.14, ana.lopez@"
    )
    assert sorted(values_in_text(text)) == snapshot(
        ["acme.io", "ana.lopez@acme.io", "cmp_5eedc0ffee000001", "crm_0a1b2c3d", "linkedin.example"]
    )


def test_values_are_found_in_nested_arguments_and_keys() -> None:
    args = {"contacts": [{"email": "x@list-broker.example", "notes": {"ref rpl_99aa77bb": "ok"}}]}
    assert sorted(values_in(args)) == ["list-broker.example", "rpl_99aa77bb", "x@list-broker.example"]


def test_a_value_seen_only_in_outside_data_needs_approval() -> None:
    call = _call("set_owner", email="ana@acme.io", owner="owner@poacher.example")
    decision = ProvenanceRule().evaluate(
        call, PolicyContext(run_id="r", now=NOW, untrusted_values=PLANTED, trusted_text=TASK)
    )
    assert decision == snapshot(
        Decision(
            verdict="require_approval",
            reason=(
                "set_owner uses values that appeared only in outside data the agent read, not in the user's "
                "request: owner@poacher.example (from get_contact), poacher.example (from get_contact)"
            ),
            rule="provenance",
        )
    )


def test_a_value_the_user_wrote_is_trusted_even_when_outside_data_repeats_it() -> None:
    call = _call("set_owner", email="ana@acme.io", owner="owner@poacher.example")
    task = "make owner@poacher.example the owner of ana@acme.io"
    context = PolicyContext(run_id="r", now=NOW, untrusted_values=PLANTED, trusted_text=task)
    assert ProvenanceRule().evaluate(call, context) is None


def test_context_supplied_by_the_user_is_trusted_too() -> None:
    call = _call("send_email", to="owner@poacher.example", subject="Hi", body="Hello")
    trusted = TASK + "\n" + '{"new owner": "owner@poacher.example"}'
    context = PolicyContext(run_id="r", now=NOW, untrusted_values=PLANTED, trusted_text=trusted)
    assert ProvenanceRule().evaluate(call, context) is None


def test_an_address_at_a_domain_only_outside_data_named_needs_approval() -> None:
    # The planted text said "everyone at poacher.example"; this exact address never appeared anywhere.
    call = _call("send_email", to="lead017@poacher.example", subject="Hi", body="Hello")
    decision = ProvenanceRule().evaluate(
        call, PolicyContext(run_id="r", now=NOW, untrusted_values=PLANTED, trusted_text=TASK)
    )
    assert decision is not None and decision.verdict == "require_approval"
    assert "poacher.example (from get_contact)" in decision.reason
    assert "lead017" not in decision.reason


def test_an_id_from_outside_data_in_a_body_needs_approval() -> None:
    call = _call("send_email", to="ana@acme.io", subject="Hi", body="Enrolled you in cmp_5eedc0ffee000001.")
    decision = ProvenanceRule().evaluate(
        call, PolicyContext(run_id="r", now=NOW, untrusted_values=PLANTED, trusted_text="")
    )
    assert decision is not None
    assert decision.reason.endswith(
        "acme.io (from get_contact), ana@acme.io (from get_contact), cmp_5eedc0ffee000001 (from list_replies)"
    )


def test_reads_and_values_seen_nowhere_are_not_this_rules_concern() -> None:
    context = PolicyContext(run_id="r", now=NOW, untrusted_values=PLANTED, trusted_text="")
    assert ProvenanceRule().evaluate(_call("read_notes", email="owner@poacher.example"), context) is None
    invented = _call("set_owner", email="zoe@elsewhere.example", owner="max@elsewhere.example")
    assert ProvenanceRule().evaluate(invented, context) is None
    assert ProvenanceRule().evaluate(invented, PolicyContext(run_id="r", now=NOW)) is None


def test_many_values_are_named_up_to_five() -> None:
    untrusted = {f"p{i}@list-broker.example": "discover_leads" for i in range(8)}
    call = _call("send_email", to="p0@list-broker.example", subject="Hi", body=" ".join(untrusted))
    decision = ProvenanceRule().evaluate(call, PolicyContext(run_id="r", now=NOW, untrusted_values=untrusted))
    assert decision is not None
    assert decision.reason.endswith("and 3 more")


@pytest.mark.parametrize(
    ("enabled", "expected"), [(True, ("require_approval", "provenance")), (False, ("allow", "default_allow"))]
)
def test_the_built_engine_applies_it_unless_the_config_turns_it_off(enabled: bool, expected: tuple[str, str]) -> None:
    engine = build_policy_engine(PolicyConfig(require_approval_for_untrusted_values=enabled))
    call = _call("set_owner", email="ana@acme.io", owner="owner@poacher.example")
    context = PolicyContext(
        run_id="r", now=NOW, untrusted_values=PLANTED, trusted_text=TASK, available_tools=frozenset(_SPECS)
    )
    decision = engine.evaluate(call, context)
    assert (decision.verdict, decision.rule) == expected


def test_every_approving_rules_reason_reaches_the_approver_provenance_first() -> None:
    engine = build_policy_engine(PolicyConfig())
    call = _call("send_email", to="owner@poacher.example", subject="Hi", body="Hello")
    context = PolicyContext(
        run_id="r", now=NOW, untrusted_values=PLANTED, trusted_text=TASK, available_tools=frozenset(_SPECS)
    )
    approving = [
        opinion.rule
        for opinion in engine.explain(call, context)
        if isinstance(opinion.outcome, Decision) and opinion.outcome.verdict == "require_approval"
    ]
    assert approving == ["outbound_email_domains", "tool_metadata_approval", "provenance"]
    # The deciding rule is recorded as before; the reason names what each of the three saw, provenance first.
    assert engine.evaluate(call, context) == snapshot(
        Decision(
            verdict="require_approval",
            reason=(
                "send_email uses values that appeared only in outside data the agent read, not in the user's "
                "request: owner@poacher.example (from get_contact), poacher.example (from get_contact); "
                "send_email would email recipients outside the allowed domains who are not contacts: "
                "owner@poacher.example; 'send_email' is destructive and requires human approval for this call"
            ),
            rule="outbound_email_domains",
        )
    )
