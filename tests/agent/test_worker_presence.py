"""Workers and their heartbeats: a dead worker's runs are taken over at once, a live one is never robbed,
an expiry moves its run on without anyone asking, and a stopping server hands over only what it must."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from pydantic_ai.messages import ModelMessage, ModelResponse

from signoff.agent.runs import RunnerSettings
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store import runs as run_store
from signoff.agent.store import workers as worker_store
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import ToolCallRow, WorkerRow
from signoff.agent.workers import WorkerPresence, is_dead
from signoff.api.background import BackgroundRuns
from tests.agent.helpers import contacts
from tests.conftest import RuntimeFactory
from tests.support.clock import FakeClock
from tests.support.scripted import ScriptedModel, call, text, tool_returns

HOST = "host-a"


def _worker(clock: FakeClock, *, beat_ago: timedelta = timedelta(0), host: str = "host-b", pid: int = 1) -> WorkerRow:
    now = clock()
    return WorkerRow(worker_id="w-other", host=host, pid=pid, started_at=now, heartbeat_at=now - beat_ago)


def test_a_worker_is_dead_by_its_heartbeat_its_stop_or_its_missing_process(clock: FakeClock) -> None:
    dead_after = timedelta(seconds=6)

    def dead(worker: WorkerRow) -> bool:
        return is_dead(worker, now=clock(), dead_after=dead_after, host=HOST, own_id="w-me")

    assert not dead(_worker(clock, beat_ago=timedelta(seconds=2)))  # another host, beating
    assert dead(_worker(clock, beat_ago=timedelta(seconds=7)))  # its heartbeat stopped
    stopped = _worker(clock)
    stopped.stopped_at = clock()
    assert dead(stopped)
    # On this host, a process that is gone is dead before its heartbeat goes stale.
    gone = _worker(clock, host=HOST, pid=2**22 + 12345)
    assert dead(gone)
    assert not dead(_worker(clock, host=HOST, pid=os.getppid()))  # a live process on this host
    assert not is_dead(
        _worker(clock, beat_ago=timedelta(days=1)), now=clock(), dead_after=dead_after, host=HOST, own_id="w-other"
    )


async def _running_run_owned_by(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock, *, beat_ago: timedelta
) -> tuple[str, object]:
    """A run paused mid-way (its sync approved and claimed for execution) whose worker then stopped beating."""
    told: list[str] = []

    def after(messages: list[ModelMessage]) -> ModelResponse:
        told.append(tool_returns(messages)["sync-2"].model_response_str())
        return ModelResponse(parts=[text("checked")])

    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(2)}, "sync-2")], after])
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("sync two contacts")
    [approval_id] = outcome.pending_approval_ids
    await runtime.approvals.approve(approval_id, decided_by="alice")
    now = clock()
    async with session_factory.begin() as session:
        # The other worker took the run and began executing the call, then went quiet.
        await worker_store.register(session, worker_id="w-other", host="host-b", pid=1, now=now - beat_ago)
        assert await run_store.claim_for_resume(
            session, run_id=outcome.run_id, worker_id="w-other", now=now, lease_expires_at=now + timedelta(minutes=1)
        )
        assert await approval_store.claim_for_execution(
            session, approval_id=approval_id, lease_expires_at=now + timedelta(hours=1)
        )
    return outcome.run_id, (runtime, approval_id, told)


async def test_the_runs_of_a_dead_worker_are_taken_over_at_once(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    run_id, (runtime, approval_id, told) = await _running_run_owned_by(  # type: ignore[misc]
        make_runtime, session_factory, clock, beat_ago=timedelta(seconds=30)
    )
    # Its call's execution lease runs for another hour; its heartbeat says it is dead now.
    outcomes = await runtime.runner.recover(full=False)  # type: ignore[attr-defined]
    assert [(o.run_id, o.status) for o in outcomes] == [(run_id, "completed")]
    async with session_factory() as session:
        approval = await approval_store.get_approval(session, approval_id=approval_id)
        [audited] = await audit_store.list_tool_calls(session, run_id=run_id)
    assert approval is not None and approval.state == "unknown"  # caught mid-execution: never run again
    assert audited.status == "unknown"
    assert "outcome of this call is unknown" in told[0]


async def test_a_live_worker_is_never_robbed_of_its_run(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    run_id, (runtime, approval_id, _told) = await _running_run_owned_by(  # type: ignore[misc]
        make_runtime, session_factory, clock, beat_ago=timedelta(seconds=1)
    )
    clock.advance(timedelta(minutes=30))  # past the run's lease: the heartbeat is what counts
    async with session_factory.begin() as session:
        assert await worker_store.beat(session, worker_id="w-other", now=clock())
    assert await runtime.runner.recover() == []  # type: ignore[attr-defined]
    async with session_factory() as session:
        run = await run_store.get_run(session, run_id=run_id)
        approval = await approval_store.get_approval(session, approval_id=approval_id)
    assert run is not None and (run.status, run.lease_owner) == ("running", "w-other")
    assert approval is not None and approval.state == "executing"


async def test_an_expired_approval_moves_its_run_on_at_the_next_sweep(
    make_runtime: RuntimeFactory, clock: FakeClock
) -> None:
    told: list[str] = []

    def after_expiry(messages: list[ModelMessage]) -> ModelResponse:
        told.append(tool_returns(messages)["sync-1"].model_response_str())
        return ModelResponse(parts=[text("The approval expired; nothing was synced.")])

    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(1)}, "sync-1")], after_expiry])
    runtime = make_runtime(model.model, settings=RunnerSettings(approval_ttl=timedelta(minutes=30)))
    outcome = await runtime.runner.start("sync one contact")
    assert outcome.status == "awaiting_approval"
    assert await runtime.runner.recover(full=False) == []  # not due yet: nothing moves
    clock.advance(timedelta(minutes=31))
    [moved] = await runtime.runner.recover(full=False)  # the sweep, with nobody asking
    assert (moved.run_id, moved.status, moved.output) == (
        outcome.run_id,
        "completed",
        "The approval expired; nothing was synced.",
    )
    [expiry] = told
    assert expiry.startswith("Not executed: the approval request expired before anyone decided. This is not a denial")


async def test_the_server_sweep_moves_an_expired_run_on_by_itself(
    make_runtime: RuntimeFactory, clock: FakeClock
) -> None:
    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(1)}, "sync-1")], [text("expired")]])
    runtime = make_runtime(model.model, settings=RunnerSettings(approval_ttl=timedelta(minutes=30)))
    outcome = await runtime.runner.start("sync one contact")
    clock.advance(timedelta(minutes=31))
    background = BackgroundRuns(runtime.runner, sweep_interval_seconds=0.05)
    background.start_sweeping()
    try:
        for _ in range(100):
            if (await runtime.runner.outcome(outcome.run_id)).status == "completed":
                break
            await asyncio.sleep(0.05)
    finally:
        await background.shutdown()
    assert (await runtime.runner.outcome(outcome.run_id)).status == "completed"


async def test_a_stopping_worker_hands_over_reads_as_failed_effects_as_unknown_and_keeps_approved_calls(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    runtime = make_runtime(ScriptedModel([[text("never asked")]]).model)
    run, _created = await runtime.runner.create_run("work")
    now = clock()
    async with session_factory.begin() as session:
        for tool_call_id, tool in (("read-1", "get_contact"), ("write-1", "sync_contacts_to_crm")):
            session.add(
                ToolCallRow(
                    run_id=run.run_id,
                    tool_call_id=tool_call_id,
                    tool_name=tool,
                    args_json="{}",
                    verdict="allow",
                    rule="default_allow",
                    reason="",
                    status="running",
                    items=1,
                    estimated_cost_usd=0,
                    requested_at=now,
                    started_at=now,
                )
            )
    await runtime.runner.release([run.run_id])
    async with session_factory() as session:
        calls = {c.tool_call_id: c.status for c in await audit_store.list_tool_calls(session, run_id=run.run_id)}
    assert calls == {"read-1": "failed", "write-1": "unknown"}


async def test_presence_registers_beats_and_leaves(session_factory: SessionFactory, clock: FakeClock) -> None:
    presence = WorkerPresence(
        session_factory=session_factory, worker_id="w-present", clock=clock, interval=timedelta(milliseconds=20)
    )
    await presence.start()
    started = clock()
    clock.advance(timedelta(seconds=5))
    try:
        # Wait for a beat (a loaded machine may take a while to schedule the first one), never forever.
        row = None
        for _ in range(500):
            async with session_factory() as session:
                [row] = (await worker_store.workers(session, ["w-present"])).values()
            if row.heartbeat_at > started:
                break
            await asyncio.sleep(0.02)
        assert row is not None and row.pid == os.getpid() and row.heartbeat_at > started
    finally:
        await presence.stop()
    async with session_factory() as session:
        assert await worker_store.workers(session, ["w-present"]) == {}
