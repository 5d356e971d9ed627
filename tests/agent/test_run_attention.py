"""A run is never plain `completed` when a call's outcome is unknown or limits kept it from doing the work.

Issue #13, items 3 and 8: the run's status detail (`RunOutcome.attention`, the `completed` event) carries
the unknown call until a person records what they found (audited), the event stream shows the unknown
result, and twenty runs under a tight rate limit that were denied say they did not do the work.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from inline_snapshot import snapshot
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, UserPromptPart

from signoff.agent.attention import run_attention
from signoff.agent.effects import run_effects
from signoff.agent.records import ToolCallRecord
from signoff.agent.resolutions import OutcomeNotUnknown
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.events import events_after
from signoff.api.cli import _describe_outcome  # pyright: ignore[reportPrivateUsage]
from signoff.policies import PolicyConfig, build_policy_engine
from signoff.policies.config import RateLimitConfig, ToolPolicyConfig
from signoff.tools.sales import offline_providers
from tests.agent.helpers import contacts, crm_contact_count
from tests.conftest import RuntimeFactory
from tests.support.clock import FakeClock
from tests.support.providers import CrmThatTimesOutAfterWriting
from tests.support.scripted import ScriptedModel, call, text

SYNC = {"contacts": contacts(2)}


async def _events(session_factory: SessionFactory, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with session_factory() as session:
        return [(e.kind, json.loads(e.payload_json)) for e in await events_after(session, run_id=run_id)]


async def test_a_run_with_an_unknown_call_carries_it_until_a_person_resolves_it(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    providers = offline_providers(session_factory, clock=clock)
    runtime = make_runtime(
        ScriptedModel([[call("sync_contacts_to_crm", SYNC, "sync-1")], [text("Done.")]]).model,
        providers=replace(providers, crm=CrmThatTimesOutAfterWriting(providers.crm)),
    )
    paused = await runtime.runner.start("add two contacts")
    await runtime.approvals.approve(paused.pending_approval_ids[0], decided_by="ann")
    final = await runtime.runner.resume(paused.run_id)
    assert await crm_contact_count(session_factory) == 2  # it happened, but Signoff cannot know

    # The status detail: `completed`, but with the unknown call in it, in the outcome and in the final event.
    assert final.status == "completed" and final.needs_attention
    [item] = final.attention
    assert (item.kind, [c.tool_call_id for c in item.calls]) == ("unknown_outcome", ["sync-1"])
    assert item.message == snapshot(
        "the outcome of 1 call is unknown (Create or update 2 contacts in the CRM: person0@acme.example, "
        "person1@acme.example): a person must check the outside system and record whether it happened"
    )
    assert (await runtime.runner.outcome(final.run_id)).attention == final.attention
    events = await _events(session_factory, final.run_id)
    results = [payload for kind, payload in events if kind == "tool_result"]
    assert [(r["tool_call_id"], r["status"]) for r in results] == [("sync-1", "unknown")]
    completed = events[-1]
    assert completed[0] == "completed"
    [carried] = completed[1]["attention"]
    assert carried["kind"] == "unknown_outcome" and carried["calls"][0]["tool_call_id"] == "sync-1"

    # The CLI says so before anything else.
    described = (await _describe_outcome(runtime, final)).splitlines()
    assert described[0] == f"run {final.run_id}: completed, needs attention: unknown_outcome"
    assert described[2].startswith("NEEDS ATTENTION (unknown_outcome): the outcome of 1 call is unknown")
    assert f"signoff resolve {final.run_id} sync-1 --happened | --did-not-happen" in described[4]

    # A person checks the CRM and records it: kept with who and when; the call stays unknown in the audit.
    clock.now = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
    resolution = await runtime.resolve_unknown_call(
        run_id=final.run_id, tool_call_id="sync-1", happened=True, resolved_by="ann", note="both are in HubSpot"
    )
    assert (resolution.happened, resolution.resolved_by, resolution.resolved_at) == (True, "ann", clock.now)
    assert (await runtime.runner.outcome(final.run_id)).attention == ()
    check = await runtime.answer_check(final.run_id)
    [effect] = check.effects.effects
    assert (effect.outcome, effect.happened, effect.detail) == snapshot(
        (
            "unknown",
            True,
            "outcome unknown (the process stopped while it ran): check the outside system; "
            "checked by ann: it happened (both are in HubSpot)",
        )
    )
    async with session_factory() as session:
        [audited] = await audit_store.list_tool_calls(session, run_id=final.run_id)
    assert audited.status == "unknown"
    kind, payload = (await _events(session_factory, final.run_id))[-1]
    assert (kind, payload) == (
        "tool_call_resolved",
        {
            "tool": "sync_contacts_to_crm",
            "tool_call_id": "sync-1",
            "happened": True,
            "resolved_by": "ann",
            "note": "both are in HubSpot",
        },
    )

    # A correction is kept too, and the latest counts.
    await runtime.resolve_unknown_call(run_id=final.run_id, tool_call_id="sync-1", happened=False, resolved_by="bo")
    [effect] = (await runtime.answer_check(final.run_id)).effects.effects
    assert (effect.happened, effect.resolution and effect.resolution.resolved_by) == (False, "bo")


async def test_only_an_unknown_outcome_can_be_resolved(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime(
        ScriptedModel([[call("get_contact", {"email": "person0@acme.example"}, "read-1")], [text("ok")]]).model
    )
    outcome = await runtime.runner.start("look someone up")
    assert outcome.attention == ()
    with pytest.raises(OutcomeNotUnknown, match=r"'read-1' .* is succeeded, not unknown"):
        await runtime.resolve_unknown_call(run_id=outcome.run_id, tool_call_id="read-1", happened=True, resolved_by="a")


async def test_recovery_reports_a_call_it_finds_stranded_as_an_unknown_result(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    """A worker died while executing an approved call (its lease ran out): recovery settles it `unknown`, and
    the event stream says so, as it does for a call that timed out in front of the guard."""
    runtime = make_runtime(ScriptedModel([[call("sync_contacts_to_crm", SYNC, "sync-1")], [text("Done.")]]).model)
    paused = await runtime.runner.start("add two contacts")
    [approval_id] = paused.pending_approval_ids
    await runtime.approvals.approve(approval_id, decided_by="ann")
    async with session_factory.begin() as session:  # what a worker that died mid-execution leaves behind
        assert await approval_store.claim_for_execution(session, approval_id=approval_id, lease_expires_at=clock.now)
    clock.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    [recovered] = await runtime.runner.recover()

    assert recovered.status == "completed"
    assert [item.kind for item in recovered.attention] == ["unknown_outcome"]
    events = await _events(session_factory, recovered.run_id)
    assert [(p["tool_call_id"], p["status"]) for kind, p in events if kind == "tool_result"] == [("sync-1", "unknown")]
    assert [item["kind"] for item in events[-1][1]["attention"]] == ["unknown_outcome"]


# --- limits -----------------------------------------------------------------------------------------

RUNS = 20
ALLOWED_CALLS = 3


def _sync_the_contact_of_the_task(messages: list[ModelMessage]) -> ModelResponse:
    """Sync the one contact the task names ("add contact 7"), then answer "Done." whatever happened."""
    task = " ".join(
        str(part.content)
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, UserPromptPart)
    )
    match = re.search(r"add contact (\d+)", task)
    assert match is not None, task
    return ModelResponse(
        parts=[call("sync_contacts_to_crm", {"contacts": contacts(1, start=int(match.group(1)))}, "sync-1")]
    )


@pytest.mark.slow
async def test_runs_stopped_by_a_rate_limit_say_they_did_not_do_the_work(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    policy = build_policy_engine(
        PolicyConfig(
            tools={"sync_contacts_to_crm": ToolPolicyConfig(requires_approval=False)},
            rate_limits={"sync_contacts_to_crm": RateLimitConfig(max_calls=ALLOWED_CALLS, window_seconds=3600)},
        )
    )
    # An answer that claims nothing: only the status detail can tell that the work was not done.
    model = ScriptedModel([_sync_the_contact_of_the_task, [text("Done.")]])
    runtime = make_runtime(model.model, policy_engine=policy)

    outcomes = await asyncio.gather(*(runtime.runner.start(f"add contact {i}") for i in range(RUNS)))

    assert [o.status for o in outcomes] == ["completed"] * RUNS
    assert await crm_contact_count(session_factory) == ALLOWED_CALLS
    done = [o for o in outcomes if not o.attention]
    limited = [o for o in outcomes if o.attention]
    assert (len(done), len(limited)) == (ALLOWED_CALLS, RUNS - ALLOWED_CALLS)
    for outcome in limited:
        [item] = outcome.attention
        assert (item.kind, item.rules) == ("denied_by_limits", ("rate_limit",))
        assert (
            item.message
            == "the run did not do the work: 1 call was denied by limits (rate_limit), and no side effect happened"
        )
        [kind, payload] = (await _events(session_factory, outcome.run_id))[-1]
        assert (kind, payload["output"], payload["attention"][0]["kind"]) == ("completed", "Done.", "denied_by_limits")
    # Shown beside the answer: the run did not do the work, and the effect says which rule denied it.
    lines = (await _describe_outcome(runtime, limited[0])).splitlines()
    assert lines[0] == f"run {limited[0].run_id}: completed, needs attention: denied_by_limits"
    assert lines[2] == (
        "NEEDS ATTENTION (denied_by_limits): the run did not do the work: 1 call was denied by limits (rate_limit), "
        "and no side effect happened"
    )
    assert any(line.startswith("  [denied_by_policy] Create or update 1 contact") for line in lines)
    assert "Done." in lines


def _record(tool_call_id: str, tool_name: str, status: str, *, rule: str = "default_allow") -> ToolCallRecord:
    return ToolCallRecord(
        run_id="run-1",
        tool_call_id=tool_call_id,
        tool_name=tool_name,
        args={},
        verdict="deny" if status == "denied" else "allow",
        rule=rule,
        reason="too many" if status == "denied" else "",
        status=status,
        items=1,
        estimated_cost_usd=Decimal(0),
        approval_id=None,
        result=None,
        error=None,
        requested_at=datetime(2026, 1, 1, tzinfo=UTC),
        started_at=None,
        finished_at=None,
    )


def test_a_limit_denial_retried_with_success_is_no_attention_and_a_partial_one_says_so() -> None:
    split = [
        _record("big", "sync", "denied", rule="batch_limit"),
        _record("half-1", "sync", "succeeded"),
        _record("half-2", "sync", "succeeded"),
    ]
    assert run_attention(split, run_effects(split, registry=None), status="completed") == ()
    partial = [
        _record("mail-1", "send", "succeeded"),
        _record("sync-1", "sync", "denied", rule="rate_limit"),
        _record("other", "egress", "denied", rule="egress"),  # a denial for what a call does is no limit
    ]
    [item] = run_attention(partial, run_effects(partial, registry=None), status="completed")
    assert (item.message, [c.tool_call_id for c in item.calls]) == (
        "the run did not do all the work: 1 call was denied by limits (rate_limit) and not retried",
        ["sync-1"],
    )
    # While the run goes on, the model may still retry: limits are only its final word once it finished.
    assert run_attention(partial, run_effects(partial, registry=None), status="awaiting_approval") == ()
