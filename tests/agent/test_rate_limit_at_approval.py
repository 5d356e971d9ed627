"""Rate limits hold at approval time: only the call being approved is left out of the count (tool call
ids are unique within a run, not across runs), and an approved call counts from when it ran."""

from __future__ import annotations

from datetime import timedelta

import pytest

from signoff.agent.approvals import ApprovalRefused
from signoff.agent.store import audit as audit_store
from signoff.agent.store.engine import SessionFactory
from signoff.policies import PolicyConfig, build_policy_engine
from tests.conftest import RuntimeFactory
from tests.support.clock import FakeClock
from tests.support.scripted import ScriptedModel, call, text

EMAIL = {"to": "ann@partner.example", "subject": "Hello", "body": "Hi Ann, -- Bo"}


async def test_approval_counts_other_runs_calls_with_the_same_tool_call_id(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    policy = build_policy_engine(
        PolicyConfig.model_validate({"rate_limits": {"send_email": {"max_calls": 1, "window_seconds": 3600}}})
    )

    def runtime():
        return make_runtime(
            ScriptedModel([[call("send_email", EMAIL, "email-1")], [text("sent")]]).model, policy_engine=policy
        )

    waiting = await runtime().runner.start("email Ann")  # T0: pending, nobody decides for a while
    clock.advance(timedelta(minutes=61))
    first = runtime()
    sent = await first.runner.start("email Ann again")  # T0+61m: allowed by the rate limit, approved, sent
    await first.approvals.approve(sent.pending_approval_ids[0], decided_by="ann")
    assert (await first.runner.resume(sent.run_id)).status == "completed"

    clock.advance(timedelta(minutes=1))  # T0+62m: one email went out a minute ago; the limit is 1 per hour
    late = runtime()
    with pytest.raises(ApprovalRefused, match="rate_limit"):
        await late.approvals.approve(waiting.pending_approval_ids[0], decided_by="ann")

    async with session_factory() as session:
        statuses = [c.status for c in await audit_store.list_tool_calls(session, run_id=waiting.run_id)]
    assert statuses == ["awaiting_approval"]


async def test_rate_limit_counts_when_approved_calls_execute_not_when_they_were_requested(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    policy = build_policy_engine(
        PolicyConfig.model_validate({"rate_limits": {"send_email": {"max_calls": 1, "window_seconds": 3600}}})
    )

    def runtime(call_id: str):
        return make_runtime(
            ScriptedModel([[call("send_email", EMAIL, call_id)], [text("sent")]]).model, policy_engine=policy
        )

    early = runtime("email-a")
    requested_early = await early.runner.start("email Ann")  # T0: waits for a person
    clock.advance(timedelta(hours=2))
    await early.approvals.approve(requested_early.pending_approval_ids[0], decided_by="ann")
    assert (await early.runner.resume(requested_early.run_id)).status == "completed"  # sent at T0+2h

    late = runtime("email-b")
    requested_late = await late.runner.start("email Ann again")  # T0+2h, a second after the first send
    assert requested_late.pending_approval_ids == (), "the second email within the hour must be refused"
