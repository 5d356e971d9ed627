"""An approved call the guard blocks (its digest or policy version no longer matches) is settled as not
executed, so it stops counting towards the run's spend and the tool's rate limit."""

from __future__ import annotations

from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store.engine import SessionFactory
from signoff.policies import PolicyConfig, build_policy_engine
from tests.agent.helpers import crm_contact_count
from tests.conftest import RuntimeFactory
from tests.support.scripted import ScriptedModel, call, text


async def test_blocked_approved_call_is_recorded_as_not_executed(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    turns = [
        [call("discover_leads", {"icp": {"industry": "fintech", "location": "Berlin"}, "limit": 40}, "find-40")],
        [text("done")],
    ]
    old = make_runtime(ScriptedModel(turns).model)
    outcome = await old.runner.start("find 40 leads")
    await old.approvals.approve(outcome.pending_approval_ids[0], decided_by="ann")

    # The policy file changed (a new version) before the run was resumed: the call is blocked, rightly.
    new_policy = build_policy_engine(PolicyConfig.model_validate({"max_items_without_approval": 5}))
    new = make_runtime(ScriptedModel(turns).model, policy_engine=new_policy)
    assert (await new.runner.resume(outcome.run_id)).status == "completed"
    assert await crm_contact_count(session_factory) == 0

    async with session_factory() as session:
        [audit] = await audit_store.list_tool_calls(session, run_id=outcome.run_id)
        approval = await approval_store.get_approval(session, approval_id=outcome.pending_approval_ids[0])
        spend = await audit_store.run_spend_usd(session, run_id=outcome.run_id)
    assert approval is not None
    assert (audit.status, str(spend)) == ("not_executed", "0"), (audit.status, approval.state, spend)
