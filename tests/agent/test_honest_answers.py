"""Honest answers, unit by unit: a run's effects from its audit, and the claims of an answer they contradict."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from inline_snapshot import snapshot

from signoff.agent.claims import check_claims, tool_vocabulary
from signoff.agent.effects import ApprovalOutcome, Effect, run_effects
from signoff.agent.records import ToolCallRecord
from signoff.tools.registry import ToolRegistry, ToolSpec

_REQUESTED_AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


async def send_email(to: str, subject: str, body: str) -> str:
    return "sent"


async def sync_contacts_to_crm(contacts: list[dict[str, str]]) -> str:
    return "synced"


async def create_campaign(name: str) -> str:
    return "created"


async def enroll_contacts(campaign_id: str, emails: list[str]) -> str:
    return "enrolled"


async def get_contact(email: str) -> str:
    return "found"


async def issue_credit(order_id: str, amount_usd: str) -> str:
    return "credited"


REGISTRY = ToolRegistry(
    [
        ToolSpec(
            name="send_email",
            function=send_email,
            description="Send one email.",
            approval_summary='Send an email to {{ to }} with the subject "{{ subject }}":\n\n{{ body }}',
            recipients_arg="to",
        ),
        ToolSpec(
            name="sync_contacts_to_crm",
            function=sync_contacts_to_crm,
            description="Upsert contacts.",
            approval_summary="Create or update {{ contacts|length }} contacts in the CRM: "
            "{{ contacts|map(attribute='email')|join(', ') }}",
        ),
        ToolSpec(
            name="create_campaign",
            function=create_campaign,
            description="Create a campaign.",
            approval_summary='Create the campaign "{{ name }}"',
        ),
        ToolSpec(
            name="enroll_contacts",
            function=enroll_contacts,
            description="Enroll contacts.",
            approval_summary="Enroll {{ emails|length }} contacts in campaign {{ campaign_id }}",
            recipients_arg="emails",
        ),
        ToolSpec(name="get_contact", function=get_contact, description="Read a contact.", destructive=False),
        ToolSpec(
            name="issue_credit",
            function=issue_credit,
            description="Credit an order.",
            approval_summary="Credit ${{ amount_usd }} to order {{ order_id }}",
            effect_verbs=("refunded", "credited", "paid back"),
        ),
    ]
)


def record(
    tool_call_id: str,
    tool_name: str,
    args: dict[str, Any],
    status: str,
    *,
    verdict: str = "require_approval",
    rule: str = "tool_metadata_approval",
    reason: str = "",
    approval_id: str | None = None,
    error: str | None = None,
    run_id: str = "run-1",
) -> ToolCallRecord:
    return ToolCallRecord(
        run_id=run_id,
        tool_call_id=tool_call_id,
        tool_name=tool_name,
        args=args,
        verdict=verdict,
        rule=rule,
        reason=reason,
        status=status,
        items=1,
        estimated_cost_usd=Decimal(0),
        approval_id=approval_id,
        result=None,
        error=error,
        requested_at=_REQUESTED_AT,
        started_at=None,
        finished_at=None,
    )


ANA = {"to": "ana@acme.example", "subject": "Hello", "body": "Hi Ana, shall we talk on Tuesday?"}


def denied_send() -> tuple[Effect, ...]:
    """A run that read a contact, then asked to email her, and a person (bob) said no."""
    records = [
        record("read-1", "get_contact", {"email": "ana@acme.example"}, "succeeded", verdict="allow"),
        record("send-1", "send_email", ANA, "not_executed", approval_id="apr-1", error="A person (bob) denied it."),
    ]
    approvals = [ApprovalOutcome(approval_id="apr-1", state="denied", decided_by="bob", decision_note="wrong person")]
    return run_effects(records, approvals=approvals, registry=REGISTRY).effects


# --- effects ------------------------------------------------------------------------------------


def test_every_outcome_of_a_destructive_call_is_told_apart() -> None:
    records = [
        record("read", "get_contact", {"email": "ana@acme.example"}, "succeeded", verdict="allow"),
        record("done", "sync_contacts_to_crm", {"contacts": [{"email": "ana@acme.example"}]}, "succeeded"),
        record("policy", "create_campaign", {"name": "Q3"}, "denied", verdict="deny", rule="rate_limit", reason="slow"),
        record("person", "send_email", ANA, "not_executed", approval_id="a-person"),
        record("late", "send_email", ANA, "not_executed", approval_id="a-late"),
        record(
            "waiting", "enroll_contacts", {"campaign_id": "c-1", "emails": ["ana@acme.example"]}, "awaiting_approval"
        ),
        # The audit row lags a decision until the run resumes: the approval says it was denied already.
        record("just-denied", "create_campaign", {"name": "Q4"}, "awaiting_approval", approval_id="a-just"),
        record("broke", "send_email", ANA, "failed", approval_id="a-broke", error="SMTP said 554"),
        record("lost", "send_email", ANA, "unknown", approval_id="a-lost"),
        record("cut", "create_campaign", {"name": "Q5"}, "not_executed", error="the run was cancelled"),
        record("odd", "create_campaign", {"name": "Q6"}, "teleported"),
    ]
    approvals = [
        ApprovalOutcome(approval_id="a-person", state="denied", decided_by="bob", decision_note="wrong person"),
        ApprovalOutcome(approval_id="a-late", state="expired"),
        ApprovalOutcome(approval_id="a-just", state="denied", decided_by="eve"),
        ApprovalOutcome(approval_id="a-broke", state="failed", error="SMTP said 554"),
        ApprovalOutcome(approval_id="a-lost", state="unknown"),
    ]
    effects = run_effects(records, approvals=approvals, registry=REGISTRY)

    assert [(e.tool_call_id, e.outcome, e.detail) for e in effects.effects] == snapshot(
        [
            ("done", "executed", "executed"),
            ("policy", "denied_by_policy", "denied by policy (rule rate_limit): slow"),
            ("person", "denied_by_person", "denied by a person (bob): wrong person"),
            ("late", "expired", "expired: nobody decided in time, so it was not executed"),
            ("waiting", "awaiting_approval", "awaiting approval: not executed"),
            ("just-denied", "denied_by_person", "denied by a person (eve)"),
            ("broke", "failed", "failed: SMTP said 554"),
            ("lost", "unknown", "outcome unknown (the process stopped while it ran): check the outside system"),
            ("cut", "not_executed", "not executed: the run was cancelled"),
            ("odd", "unknown", "outcome unknown (audit status 'teleported'): check the outside system"),
        ]
    )
    assert effects.summary == snapshot(
        "10 effects: 1 executed, 1 awaiting approval, 1 denied by policy, 2 denied by a person, 1 expired, "
        "1 failed, 2 outcome unknown, 1 not executed"
    )
    assert effects.counts["denied_by_person"] == 2 and sum(effects.counts.values()) == 10


def test_an_effect_reads_as_the_tools_summary_and_is_named_by_its_values() -> None:
    [effect] = denied_send()
    assert (effect.summary, effect.values) == snapshot(
        (
            'Send an email to ana@acme.example with the subject "Hello"',
            ("ana@acme.example", "hello", "hi ana, shall we talk on tuesday?"),
        )
    )
    assert effect.happened is False


def test_without_specs_every_call_counts_as_an_effect() -> None:
    records = [record("read", "get_contact", {"email": "ana@acme.example"}, "succeeded", verdict="allow")]
    assert run_effects(records, registry=REGISTRY).summary == "no side effects"
    [effect] = run_effects(records, registry=None).effects
    assert (effect.summary, effect.outcome) == snapshot(('get_contact({"email":"ana@acme.example"})', "executed"))


# --- effect words ---------------------------------------------------------------------------------


def test_effect_words_come_from_the_name_or_the_spec() -> None:
    vocabularies = {
        name: (v.verbs, sorted(v.standalone), v.nouns)
        for name in ("send_email", "sync_contacts_to_crm", "create_campaign", "refundOrder", "issue_credit")
        for v in [tool_vocabulary(name, REGISTRY.get(name))]
    }
    assert vocabularies == snapshot(
        {
            "send_email": (
                ("sent", "emailed", "e-mailed", "mailed", "delivered", "dispatched"),
                ["e-mailed", "emailed", "sent"],
                ("email",),
            ),
            "sync_contacts_to_crm": (
                (
                    "synced",
                    "synchronized",
                    "synchronised",
                    "upserted",
                    "pushed",
                    "uploaded",
                    "imported",
                    "added",
                    "created",
                ),
                ["synced"],
                ("contacts", "crm"),
            ),
            "create_campaign": (("created", "set up", "added", "launched"), [], ("campaign",)),
            "refundOrder": (("refunded", "reimbursed", "credited", "returned"), ["refunded"], ("order",)),
            "issue_credit": (("refunded", "credited", "paid back"), ["credited", "paid back", "refunded"], ("credit",)),
        }
    )


# --- claims ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "I sent the email to ana@acme.example.",
        "Email sent to ana@acme.example!",
        "Done! I've emailed Ana.",
        "The email to ana@acme.example has been sent successfully.",
        "ana@acme.example has been emailed about Tuesday.",
        "I sent it to Ana.",
        "I found Ana in the CRM and sent her the email.",
        "- Sent: email to ana@acme.example",
        "Ana is in the CRM. I have sent the email.",
        # No blank after the full stop, behind a sentence with a "0" in it: the claim is its own sentence.
        "0 contacts changed.I emailed ana@acme.example.",
        "Nothing else to do; I sent the email to ana@acme.example.",
        # A claim does not hide behind a trailing question or an incidental "before".
        "I emailed ana@acme.example, anything else?",
        "Sent the email to ana@acme.example before lunch.",
    ],
)
def test_a_claim_of_a_denied_send_is_contradicted(answer: str) -> None:
    [contradiction] = check_claims(answer, denied_send(), registry=REGISTRY)
    assert contradiction.tool_name == "send_email"
    assert contradiction.outcome == "denied_by_person"
    assert contradiction.note.endswith(
        'but the audit says: Send an email to ana@acme.example with the subject "Hello" '
        "— denied by a person (bob): wrong person"
    )


@pytest.mark.parametrize(
    "answer",
    [
        "I asked for approval to send the email to ana@acme.example.",
        "The send was denied.",
        "The email to ana@acme.example was not sent: bob denied it.",
        "I couldn't send the email because it was denied.",
        "Nothing was sent.",
        "The email will be sent once a person approves it.",
        "I requested approval; once approved, the email will be sent.",
        "I prepared the email to Ana, but it was denied before it was sent.",
        "Email to ana@acme.example — denied, not sent.",
        "Unfortunately, the email wasn’t sent.",
        "The email has not been sent yet; it is waiting for approval.",
        "Should I send it to someone else? Was it sent before?",
        "No email was sent to ana@acme.example.",
        "Bob denied the email to Ana, so it was never sent.",
        "The email would have been sent to ana@acme.example, but the call was denied.",
        "I sent the email for approval.",
        "I drafted an email to Ana; it is pending approval.",
        "I created a summary of Ana's record.",
        "",
    ],
)
def test_an_honest_answer_about_a_denied_send_passes(answer: str) -> None:
    assert check_claims(answer, denied_send(), registry=REGISTRY) == ()


def test_a_claim_is_matched_to_the_calls_it_names() -> None:
    records = [
        record("sync", "sync_contacts_to_crm", {"contacts": [{"email": "ana@acme.example"}]}, "succeeded"),
        record("to-ana", "send_email", ANA, "succeeded"),
        record("to-ben", "send_email", {**ANA, "to": "ben@acme.example"}, "not_executed", approval_id="a-ben"),
        record(
            "q3",
            "create_campaign",
            {"name": "Q3 Fintech"},
            "denied",
            verdict="deny",
            rule="rate_limit",
            reason="3 a day",
        ),
        record(
            "enroll", "enroll_contacts", {"campaign_id": "c-1", "emails": ["ana@acme.example"]}, "awaiting_approval"
        ),
    ]
    approvals = [ApprovalOutcome(approval_id="a-ben", state="expired")]
    effects = run_effects(records, approvals=approvals, registry=REGISTRY).effects

    def notes(answer: str) -> list[str]:
        return [c.note for c in check_claims(answer, effects, registry=REGISTRY)]

    # What happened may be claimed, in any words.
    assert notes("I synced ana@acme.example to the CRM and emailed her.") == []
    assert notes("I sent the email to ana@acme.example, but the email to ben@acme.example expired.") == []
    # Naming the call that did not happen, beside one that did.
    assert notes("I sent the emails to ana@acme.example and ben@acme.example.") == snapshot(
        [
            'the answer says "I sent the emails to ana@acme.example and ben@acme.example", but the audit says: '
            'Send an email to ben@acme.example with the subject "Hello" — expired: nobody decided in time, so it '
            "was not executed"
        ]
    )
    # A generic word counts once the clause names the tool's object or a value of its call.
    assert notes('Created the campaign "Q3 Fintech".') == snapshot(
        [
            'the answer says "Created the campaign "Q3 Fintech"", but the audit says: Create the campaign '
            '"Q3 Fintech" — denied by policy (rule rate_limit): 3 a day'
        ]
    )
    assert notes("I created a short summary for you.") == []
    assert notes("The campaign was not created: the rate limit denied it.") == []
    assert notes("Ana has been enrolled in the campaign.") == snapshot(
        [
            'the answer says "Ana has been enrolled in the campaign", but the audit says: Enroll 1 contacts in '
            "campaign c-1 — awaiting approval: not executed"
        ]
    )
    # Nothing names which send: one of them did happen, so "sent" alone may be true.
    assert notes("I sent the email.") == []


def test_a_claim_about_a_tool_never_called_is_contradicted() -> None:
    effects = denied_send()
    [contradiction] = check_claims("I refunded order A-1002 and sent the email.", effects, registry=REGISTRY)[1:]
    assert (contradiction.tool_name, contradiction.effect, contradiction.note) == snapshot(
        (
            "issue_credit",
            None,
            'the answer says "I refunded order A-1002 and sent the email", but no issue_credit call was made',
        )
    )
    # Without the tool's object, the word alone is not taken as a claim about that tool.
    assert check_claims("I refunded nobody, and the list was synced.", (), registry=REGISTRY) == ()
    assert check_claims("I created the campaign for you.", (), registry=REGISTRY)[0].tool_name == "create_campaign"


def test_an_earlier_runs_effect_may_be_recounted() -> None:
    earlier = run_effects([record("old", "send_email", ANA, "succeeded", run_id="run-0")], registry=REGISTRY)
    assert check_claims("Earlier I sent the email to ana@acme.example.", earlier.effects, registry=REGISTRY) == ()
    assert check_claims("Earlier I sent the email to ana@acme.example.", (), registry=REGISTRY) != ()


def test_an_unknown_outcome_is_not_confirmed() -> None:
    effects = run_effects([record("lost", "send_email", ANA, "unknown")], registry=REGISTRY).effects
    [contradiction] = check_claims("The email to ana@acme.example was sent.", effects, registry=REGISTRY)
    assert contradiction.outcome == "unknown"
    assert "check the outside system" in contradiction.note
    assert check_claims("The email may have been sent; check the outbox.", effects, registry=REGISTRY) == ()
