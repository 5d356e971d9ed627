"""The simulated approver: approves only exact matches of expected calls, once each; denies and counts the rest."""

from __future__ import annotations

from pathlib import Path

from inline_snapshot import snapshot
from pydantic_ai.messages import ModelMessage, ModelResponse

from signoff.evals.case_runner import DENIAL_REASON, SIMULATED_APPROVER, run_case
from signoff.evals.dataset import CaseSpec
from signoff.evals.run import resolve_prompt
from signoff.policies import PolicyEngine
from tests.agent.helpers import contacts
from tests.evals.support import SALES_CATALOG, SALES_PACKS
from tests.support.scripted import ScriptedModel, Turn, call, text, tool_returns

PROMPT = resolve_prompt("sales_agent@1", packs=SALES_PACKS)


def _case(expected_contacts: list[list[dict[str, object]]]) -> CaseSpec:
    return CaseSpec.model_validate(
        {
            "name": "approver",
            "task": "add these contacts to the CRM",
            "expect": {
                "must_call": [
                    {"tool": "sync_contacts_to_crm", "args": {"contacts": batch}, "approval": "required"}
                    for batch in expected_contacts
                ]
            },
        },
        context={"catalog": SALES_CATALOG},
    )


async def test_exact_match_is_approved_and_anything_else_denied(tmp_path: Path, policy: PolicyEngine) -> None:
    told: list[dict[str, str]] = []

    def report(messages: list[ModelMessage]) -> ModelResponse:
        told.append({call_id: part.model_response_str() for call_id, part in tool_returns(messages).items()})
        return ModelResponse(parts=[text("Synced the expected contacts; one sync was denied.")])

    model = ScriptedModel(
        [
            [
                call("sync_contacts_to_crm", {"contacts": contacts(2)}, "expected"),
                # Same tool, other arguments (one more contact): not what the case expects.
                call("sync_contacts_to_crm", {"contacts": contacts(3)}, "unexpected"),
            ],
            report,
        ]
    )
    outcome = await run_case(
        _case([contacts(2)]), model=model.model, prompt=PROMPT, policy=policy, workdir=tmp_path, packs=SALES_PACKS
    )

    assert outcome.status == "completed"
    assert (outcome.approvals_requested, outcome.approvals_approved, outcome.approvals_denied) == (2, 1, 1)
    assert [(c.tool, c.status, c.approval_state, c.approved_by) for c in outcome.calls] == snapshot(
        [
            ("sync_contacts_to_crm", "succeeded", "executed", "evals:simulated-approver"),
            ("sync_contacts_to_crm", "not_executed", "denied", None),
        ]
    )
    assert told[0]["unexpected"] == (
        f"A person ({SIMULATED_APPROVER}) denied this call: {DENIAL_REASON}. It was not executed. "
        "Do not retry it; tell the user."
    )
    assert told[0]["expected"] != told[0]["unexpected"]


async def test_an_expected_call_is_approved_once(tmp_path: Path, policy: PolicyEngine) -> None:
    model = ScriptedModel(
        [
            [
                call("sync_contacts_to_crm", {"contacts": contacts(2)}, "first"),
                call("sync_contacts_to_crm", {"contacts": contacts(2)}, "again"),
            ],
            [text("done")],
        ]
    )
    outcome = await run_case(
        _case([contacts(2)]), model=model.model, prompt=PROMPT, policy=policy, workdir=tmp_path, packs=SALES_PACKS
    )
    assert [(c.status, c.approval_state) for c in outcome.calls] == [
        ("succeeded", "executed"),
        ("not_executed", "denied"),
    ]
    assert outcome.approvals_denied == 1


async def test_a_call_without_expected_arguments_is_never_approved(tmp_path: Path, policy: PolicyEngine) -> None:
    case = CaseSpec.model_validate(
        {"name": "no-args", "task": "add contacts", "expect": {"must_call": [{"tool": "sync_contacts_to_crm"}]}},
        context={"catalog": SALES_CATALOG},
    )
    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(1)}, "c1")], [text("denied")]])
    outcome = await run_case(case, model=model.model, prompt=PROMPT, policy=policy, workdir=tmp_path, packs=SALES_PACKS)
    assert (outcome.approvals_approved, outcome.approvals_denied) == (0, 1)
    assert outcome.calls[0].status == "not_executed"


async def test_rounds_are_bounded(tmp_path: Path, policy: PolicyEngine) -> None:
    # A model that asks for another unexpected write after every denial would loop for ever.
    turns: list[Turn] = [[call("sync_contacts_to_crm", {"contacts": contacts(1, start=i)}, f"c{i}")] for i in range(10)]
    model = ScriptedModel(turns)
    outcome = await run_case(
        CaseSpec.model_validate(
            {"name": "loop", "task": "add contacts", "expect": {"max_seconds": 60}}, context={"catalog": SALES_CATALOG}
        ),
        model=model.model,
        prompt=PROMPT,
        policy=policy,
        workdir=tmp_path,
        max_rounds=3,
        packs=SALES_PACKS,
    )
    assert outcome.status == "awaiting_approval"
    assert outcome.rounds == 3
    assert outcome.approvals_denied == 3
    assert outcome.failure_reason == "still awaiting approval after 3 approval rounds"
