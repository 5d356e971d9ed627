"""An edited approval is audited, and counted towards spend and rate limits, with the arguments that
will run, not the ones first requested: an edit cannot be used to slip past the spend threshold."""

from __future__ import annotations

import json

from pydantic_ai.messages import ModelMessage, ModelResponse

from signoff.agent.store import audit as audit_store
from signoff.agent.store.engine import SessionFactory
from tests.conftest import RuntimeFactory
from tests.support.scripted import ScriptedModel, call, text


def _emails(count: int, *, prefix: str) -> list[str]:
    return [f"{prefix}{i}@acme.example" for i in range(count)]


async def test_edited_approval_is_audited_and_counted_with_the_executed_arguments(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    # Step 1: enrich 11 contacts ($5.50; more than 10 items, so a person is asked). The person edits it
    # to 40 contacts ($20.00, allowed by policy as an approval). Step 2: enrich 2 more ($1.00): the run
    # would then reach $21.00, above the $20.00 a run may spend without approval.
    def second(messages: list[ModelMessage]) -> ModelResponse:
        return ModelResponse(parts=[call("enrich_contacts", {"emails": _emails(2, prefix="b")}, "enrich-2")])

    model = ScriptedModel(
        [[call("enrich_contacts", {"emails": _emails(11, prefix="a")}, "enrich-11")], second, [text("done")]]
    )
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("enrich leads")
    assert outcome.status == "awaiting_approval"
    edited = {"emails": _emails(40, prefix="a")}
    await runtime.approvals.approve(outcome.pending_approval_ids[0], decided_by="carol", edited_args=edited)
    final = await runtime.runner.resume(outcome.run_id)

    async with session_factory() as session:
        calls = {c.tool_call_id: c for c in await audit_store.list_tool_calls(session, run_id=outcome.run_id)}
        spend = await audit_store.run_spend_usd(session, run_id=outcome.run_id)
    first = calls["enrich-11"]
    observed = {
        "first_args_items": len(json.loads(first.args_json)["emails"]),
        "first_items": first.items,
        "first_cost": str(first.estimated_cost_usd),
        "second_verdict": calls["enrich-2"].verdict,
        "run_spend": str(spend),
        "final": final.status,
    }
    assert observed == {
        "first_args_items": 40,
        "first_items": 40,
        "first_cost": "20",
        "second_verdict": "require_approval",
        "run_spend": "21",
        "final": "awaiting_approval",
    }
