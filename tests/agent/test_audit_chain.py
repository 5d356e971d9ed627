"""The tamper-evident audit chain: every write path appends to it, and `verify` finds every kind of tampering."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from pydantic_ai.messages import ModelMessage, ModelResponse
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.agent.audit_chain import ChainHead, ChainProblem, ChainReport, audit_chain_head, verify_audit_chain
from signoff.agent.runs import RunnerSettings
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store.chain import GENESIS_HASH, UnchainedWriteError, entry_hash, seal_records
from signoff.agent.store.engine import SessionFactory, create_engine, create_session_factory
from signoff.agent.store.migrate import _alembic_config, upgrade_database  # pyright: ignore[reportPrivateUsage]
from signoff.agent.store.recovery import settle_stale_calls
from signoff.agent.store.tables import ApprovalRow, AuditChainRow, RunRow, ToolCallRow
from tests.agent.helpers import contacts
from tests.conftest import RuntimeFactory
from tests.support.clock import FakeClock
from tests.support.scripted import ScriptedModel, call
from tests.support.scripted import text as say


async def chained(session_factory: SessionFactory, kind: str, record_id: object) -> list[dict[str, Any]]:
    """The contents chained for one record, oldest first."""
    async with session_factory() as session:
        rows = await session.execute(
            select(AuditChainRow.content_json)
            .where(AuditChainRow.record_kind == kind, AuditChainRow.record_id == str(record_id))
            .order_by(AuditChainRow.seq)
        )
        return [json.loads(content) if content is not None else {} for content in rows.scalars()]


async def tool_calls(session_factory: SessionFactory, run_id: str) -> dict[str, ToolCallRow]:
    async with session_factory() as session:
        return {c.tool_call_id: c for c in await audit_store.list_tool_calls(session, run_id=run_id)}


async def approval_of(session_factory: SessionFactory, run_id: str, tool_call_id: str) -> ApprovalRow:
    async with session_factory() as session:
        row = await approval_store.get_approval_for_call(session, run_id=run_id, tool_call_id=tool_call_id)
    assert row is not None
    return row


async def assert_intact(session_factory: SessionFactory) -> ChainReport:
    report = await verify_audit_chain(session_factory)
    assert report.problems == []
    assert report.ok
    return report


def statuses(contents: list[dict[str, Any]], column: str) -> list[str]:
    return [content[column] for content in contents]


# --- every write path --------------------------------------------------------------------------------


async def test_runs_decisions_and_approvals_are_chained_at_every_change(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    def after_decisions(messages: list[ModelMessage]) -> ModelResponse:
        return ModelResponse(parts=[say("Done.")])

    model = ScriptedModel(
        [
            [
                call("get_contact", {"email": "person0@acme.example"}, "read-1"),
                call("sync_contacts_to_crm", {"contacts": contacts(12)}, "sync-12"),
                call("sync_contacts_to_crm", {"contacts": contacts(3)}, "sync-a"),
                call("sync_contacts_to_crm", {"contacts": contacts(2, start=5)}, "sync-b"),
            ],
            after_decisions,
        ]
    )
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("look up and add contacts")
    assert outcome.status == "awaiting_approval"
    await assert_intact(session_factory)
    run_id = outcome.run_id
    approval_a = await approval_of(session_factory, run_id, "sync-a")
    approval_b = await approval_of(session_factory, run_id, "sync-b")

    # Approved with an edit (the audit row's arguments change too), and denied.
    await runtime.approvals.approve(approval_a.approval_id, decided_by="alice", edited_args={"contacts": contacts(1)})
    await assert_intact(session_factory)
    await runtime.approvals.deny(approval_b.approval_id, decided_by="bob", reason="not these")
    await assert_intact(session_factory)
    final = await runtime.runner.resume(run_id)
    assert final.status == "completed"
    report = await assert_intact(session_factory)

    calls = await tool_calls(session_factory, run_id)
    assert statuses(await chained(session_factory, "tool_call", calls["read-1"].audit_id), "status") == [
        "running",
        "succeeded",
    ]
    assert statuses(await chained(session_factory, "tool_call", calls["sync-12"].audit_id), "status") == ["denied"]
    call_a = await chained(session_factory, "tool_call", calls["sync-a"].audit_id)
    assert statuses(call_a, "status") == ["awaiting_approval", "awaiting_approval", "running", "succeeded"]
    assert [len(json.loads(content["args_json"])["contacts"]) for content in call_a] == [3, 1, 1, 1]
    assert statuses(await chained(session_factory, "approval", approval_a.approval_id), "state") == [
        "pending",
        "approved",
        "executing",
        "executed",
    ]
    assert statuses(await chained(session_factory, "approval", approval_b.approval_id), "state") == [
        "pending",
        "denied",
    ]
    # Every entry's content is the row as committed: the last one of each record is the row now.
    assert report.records == 4 + 2
    assert report.head == await audit_chain_head(session_factory)
    assert report.head.seq == report.entries


async def test_recovery_expiry_and_orm_changes_are_chained(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    model = ScriptedModel(
        [
            [
                call("sync_contacts_to_crm", {"contacts": contacts(1)}, "sync-a"),
                call("sync_contacts_to_crm", {"contacts": contacts(1, start=1)}, "sync-b"),
                call("sync_contacts_to_crm", {"contacts": contacts(1, start=2)}, "sync-c"),
            ],
            [say("Done.")],
        ]
    )
    runtime = make_runtime(model.model, settings=RunnerSettings(approval_ttl=timedelta(hours=1)))
    outcome = await runtime.runner.start("add contacts")
    run_id = outcome.run_id
    approval_a = await approval_of(session_factory, run_id, "sync-a")
    approval_c = await approval_of(session_factory, run_id, "sync-c")
    await runtime.approvals.approve(approval_a.approval_id, decided_by="alice")
    await runtime.approvals.approve(approval_c.approval_id, decided_by="alice")
    calls = await tool_calls(session_factory, run_id)

    # A worker claims a and c and starts executing them, then dies.
    now = clock()
    async with session_factory.begin() as session:
        for approval, tool_call_id in ((approval_a, "sync-a"), (approval_c, "sync-c")):
            assert await approval_store.claim_for_execution(
                session, approval_id=approval.approval_id, lease_expires_at=now + timedelta(minutes=5)
            )
            await audit_store.update_tool_call(
                session, audit_id=calls[tool_call_id].audit_id, status="running", started_at=now
            )
    await assert_intact(session_factory)

    # Forced: its own process knows it stopped (release_runs' path), then the running call of c.
    async with session_factory.begin() as session:
        [settled] = await approval_store.mark_stale_executions_unknown(
            session, now=now, approval_id=approval_c.approval_id, force=True, reason="stopping"
        )
        assert settled.state == "unknown"
        await audit_store.mark_running_calls_unknown(session, run_id=run_id, error="stopping")
    await assert_intact(session_factory)

    # Hours later, recovery settles a (lease ran out) and expires b (never decided).
    async with session_factory.begin() as session:
        await settle_stale_calls(session, now=now + timedelta(hours=2))
    await assert_intact(session_factory)

    assert statuses(await chained(session_factory, "approval", approval_a.approval_id), "state") == [
        "pending",
        "approved",
        "executing",
        "unknown",
    ]
    assert statuses(await chained(session_factory, "approval", approval_c.approval_id), "state") == [
        "pending",
        "approved",
        "executing",
        "unknown",
    ]
    approval_b = await approval_of(session_factory, run_id, "sync-b")
    assert statuses(await chained(session_factory, "approval", approval_b.approval_id), "state") == [
        "pending",
        "expired",
    ]
    # mark_running_calls_unknown caught both running calls; a's was then set again with its approval's error.
    assert statuses(await chained(session_factory, "tool_call", calls["sync-a"].audit_id), "status") == [
        "awaiting_approval",
        "running",
        "unknown",
        "unknown",
    ]
    assert statuses(await chained(session_factory, "tool_call", calls["sync-c"].audit_id), "status") == [
        "awaiting_approval",
        "running",
        "unknown",
    ]

    # A plain ORM attribute change (a flush, no UPDATE statement of ours) is chained too.
    async with session_factory.begin() as session:
        row = await session.get(ToolCallRow, calls["sync-b"].audit_id)
        assert row is not None
        row.error = "expired without a decision"
    assert (await chained(session_factory, "tool_call", calls["sync-b"].audit_id))[-1]["error"] == (
        "expired without a decision"
    )
    # ...and a rolled-back change leaves nothing behind.
    entries = (await verify_audit_chain(session_factory)).entries

    async def abandoned_change() -> None:
        async with session_factory.begin() as session:
            await audit_store.update_tool_call(session, audit_id=calls["sync-b"].audit_id, status="failed")
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError, match="abandon"):
        await abandoned_change()
    report = await assert_intact(session_factory)
    assert report.entries == entries


async def test_an_insert_statement_on_an_audited_table_is_refused(session_factory: SessionFactory) -> None:
    with pytest.raises(UnchainedWriteError, match="'approvals' bypasses the audit chain"):
        async with session_factory.begin() as session:
            await session.execute(insert(ApprovalRow).values(approval_id="x"))


# --- tampering is found ------------------------------------------------------------------------------


async def _completed_run(make_runtime: RuntimeFactory, session_factory: SessionFactory) -> dict[str, Any]:
    """A run with an executed approval and a denied call; the ids the tamper tests aim at."""
    model = ScriptedModel(
        [
            [
                call("sync_contacts_to_crm", {"contacts": contacts(12)}, "sync-12"),
                call("sync_contacts_to_crm", {"contacts": contacts(2)}, "sync-2"),
            ],
            [say("Synced 2.")],
        ]
    )
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("add contacts")
    await runtime.approvals.approve(outcome.pending_approval_ids[0], decided_by="alice")
    assert (await runtime.runner.resume(outcome.run_id)).status == "completed"
    calls = await tool_calls(session_factory, outcome.run_id)
    await assert_intact(session_factory)
    return {
        "run_id": outcome.run_id,
        "approval_id": outcome.pending_approval_ids[0],
        "approved_call": calls["sync-2"].audit_id,
        "denied_call": calls["sync-12"].audit_id,
    }


async def _raw(engine: AsyncEngine, sql: str, **params: Any) -> None:
    # A bare connection, no session: what someone with the database's password could do.
    async with engine.begin() as connection:
        await connection.execute(text(sql), params)


def _chain_problems(report: ChainReport) -> list[ChainProblem]:
    return [p for p in report.problems if p.kind in ("edited_entry", "broken_link", "missing_entries")]


def _only(report: ChainReport) -> str:
    assert not report.ok
    [problem] = report.problems
    return f"{problem.kind}: {problem.message}"


async def test_an_edited_tool_call_is_found(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, engine: AsyncEngine
) -> None:
    ids = await _completed_run(make_runtime, session_factory)
    await _raw(
        engine,
        "UPDATE tool_calls SET args_json = :args WHERE audit_id = :audit_id",
        args="{}",
        audit_id=ids["approved_call"],
    )
    found = _only(await verify_audit_chain(session_factory))
    assert found.startswith(f"edited: tool call {ids['approved_call']} ('sync_contacts_to_crm', call 'sync-2' of run ")
    assert found.endswith("in: args_json")


async def test_an_edited_approval_state_is_found(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, engine: AsyncEngine
) -> None:
    ids = await _completed_run(make_runtime, session_factory)
    await _raw(
        engine,
        "UPDATE approvals SET state = 'denied', decided_by = 'mallory' WHERE approval_id = :approval_id",
        approval_id=ids["approval_id"],
    )
    report = await verify_audit_chain(session_factory)
    [problem] = report.problems
    assert (problem.kind, problem.record_kind, problem.record_id) == ("edited", "approval", ids["approval_id"])
    assert problem.message.startswith(f"approval {ids['approval_id']!r} ('sync_contacts_to_crm', call 'sync-2' of run ")
    assert problem.message.endswith("in: decided_by, state")


async def test_an_inserted_row_is_found(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, engine: AsyncEngine
) -> None:
    ids = await _completed_run(make_runtime, session_factory)
    forged = str(uuid.uuid4())
    await _raw(
        engine,
        "INSERT INTO approvals (approval_id, run_id, tool_call_id, tool_name, requested_args_json, digest,"
        " policy_version, summary, reason, rule, state, decided_by, created_at)"
        " SELECT :forged, run_id, 'forged-call', tool_name, requested_args_json, digest, policy_version, summary,"
        " reason, rule, 'approved', 'mallory', created_at FROM approvals WHERE approval_id = :approval_id",
        forged=forged,
        approval_id=ids["approval_id"],
    )
    report = await verify_audit_chain(session_factory)
    assert _only(report) == (
        f"inserted: approval {forged!r} ('sync_contacts_to_crm', call 'forged-call' of run {ids['run_id']!r}) "
        "has no audit chain entry: it was written outside Signoff"
    )
    assert report.problems[0].record_id == forged


async def test_a_deleted_row_is_found(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, engine: AsyncEngine
) -> None:
    ids = await _completed_run(make_runtime, session_factory)
    await _raw(engine, "DELETE FROM tool_calls WHERE audit_id = :audit_id", audit_id=ids["denied_call"])
    found = _only(await verify_audit_chain(session_factory))
    assert found.startswith(f"deleted: tool call {ids['denied_call']} ('sync_contacts_to_crm', call 'sync-12' of run ")
    assert found.endswith("but its row is gone: it was deleted")


async def test_an_edited_chain_entry_is_found(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, engine: AsyncEngine
) -> None:
    ids = await _completed_run(make_runtime, session_factory)
    # An older entry (not the record's latest): the approval's first, made to say it was approved at once.
    async with session_factory() as session:
        first = (
            (
                await session.execute(
                    select(AuditChainRow).where(AuditChainRow.record_kind == "approval").order_by(AuditChainRow.seq)
                )
            )
            .scalars()
            .first()
        )
    assert first is not None and first.content_json is not None and '"pending"' in first.content_json
    await _raw(
        engine,
        "UPDATE audit_chain SET content_json = :content WHERE seq = :seq",
        content=first.content_json.replace('"pending"', '"approved"'),
        seq=first.seq,
    )
    report = await verify_audit_chain(session_factory)
    [problem] = report.problems
    assert (problem.kind, problem.seq) == ("edited_entry", first.seq)
    assert problem.message == (
        f"audit chain entry {first.seq} (for approval {first.record_id!r} ('sync_contacts_to_crm', call 'sync-2' "
        f"of run {ids['run_id']!r})) was edited"
    )


async def test_deleted_and_spliced_chain_entries_are_found(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, engine: AsyncEngine
) -> None:
    await _completed_run(make_runtime, session_factory)
    await _raw(engine, "DELETE FROM audit_chain WHERE seq IN (2, 3)")
    # (Records whose only entries were removed are reported too; only the chain's own problems are pinned.)
    problems = _chain_problems(await verify_audit_chain(session_factory))
    assert (problems[0].kind, problems[0].seq) == ("missing_entries", 4)
    assert problems[0].message == "audit chain entries 2 to 3 are missing (deleted)"

    # Spliced: the newest entry replaced by one with a valid hash of its own, linked to nothing before it.
    async with session_factory() as session:
        newest = (await session.execute(select(AuditChainRow).order_by(AuditChainRow.seq.desc()))).scalars().first()
    assert newest is not None
    forged_hash = entry_hash(
        seq=newest.seq,
        record_kind=newest.record_kind,
        record_id=newest.record_id,
        content_json=newest.content_json,
        created_at=newest.created_at,
        prev_hash=GENESIS_HASH,
    )
    await _raw(
        engine,
        "UPDATE audit_chain SET prev_hash = :prev, entry_hash = :hash WHERE seq = :seq",
        prev=GENESIS_HASH,
        hash=forged_hash,
        seq=newest.seq,
    )
    problems = _chain_problems(await verify_audit_chain(session_factory))
    assert [(p.kind, p.seq) for p in problems] == [("missing_entries", 4), ("broken_link", newest.seq)]
    assert problems[1].message == (
        f"audit chain entry {newest.seq} does not link to entry {newest.seq - 1}: entries were replaced or spliced in"
    )


async def test_a_truncated_or_rewritten_chain_is_found_against_an_exported_head(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, engine: AsyncEngine
) -> None:
    await _completed_run(make_runtime, session_factory)
    witnessed = ChainHead.from_json(json.loads(json.dumps((await audit_chain_head(session_factory)).to_json())))
    assert (await verify_audit_chain(session_factory, witness=witnessed)).ok

    # More writes after the export: the chain still extends the witnessed head.
    await _completed_run(make_runtime, session_factory)
    assert (await verify_audit_chain(session_factory, witness=witnessed)).ok

    # Someone drops the whole chain and seals the rows as they are now: a consistent chain, only the
    # witness can tell.
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_chain"))
        await connection.run_sync(lambda sync: seal_records(sync, now=FakeClock()()))
    assert (await verify_audit_chain(session_factory)).ok
    report = await verify_audit_chain(session_factory, witness=witnessed)
    [problem] = report.problems
    assert problem.kind in ("rewritten", "truncated")
    assert problem.seq == witnessed.seq

    # Truncated: the newest entries removed.
    await _raw(engine, "DELETE FROM audit_chain WHERE seq > 2")
    report = await verify_audit_chain(session_factory, witness=witnessed)
    assert [p.kind for p in report.problems][-1] == "truncated"
    assert report.problems[-1].message == (
        f"the audit chain ends at entry 2, but the witness saw entry {witnessed.seq}: entries were removed from its end"
    )


# --- concurrency and upgrades ------------------------------------------------------------------------


async def _new_run(session_factory: SessionFactory, clock: FakeClock) -> str:
    run_id = str(uuid.uuid4())
    now = clock()
    async with session_factory.begin() as session:
        session.add(
            RunRow(
                run_id=run_id,
                conversation_id=run_id,
                status="running",
                task_text="concurrent writes",
                requested_by="test",
                model_name="none",
                prompt_name="none",
                prompt_version="1",
                prompt_hash="sha256:none",
                policy_version="1",
                created_at=now,
                updated_at=now,
            )
        )
    return run_id


async def test_concurrent_writers_do_not_fork_the_chain(
    database_url: str, session_factory: SessionFactory, clock: FakeClock
) -> None:
    run_id = await _new_run(session_factory, clock)
    # Two processes' worth of engines, each with several writers committing at once.
    other_engine = create_engine(database_url)
    writers_per_engine, writes_per_writer = 6, 5
    try:
        factories = [session_factory, create_session_factory(other_engine)]

        async def writer(factory: SessionFactory, name: str) -> None:
            for index in range(writes_per_writer):
                async with factory.begin() as session:
                    row = ToolCallRow(
                        run_id=run_id,
                        tool_call_id=f"{name}-{index}",
                        tool_name="t",
                        args_json="{}",
                        verdict="allow",
                        rule="r",
                        reason="",
                        status="running",
                        items=1,
                        estimated_cost_usd=0,
                        requested_at=clock(),
                    )
                    session.add(row)
                    await session.flush()
                    await asyncio.sleep(0)  # let the others interleave inside their transactions
                async with factory.begin() as session:
                    await audit_store.update_tool_call(session, audit_id=row.audit_id, status="succeeded")

        await asyncio.gather(
            *(
                writer(factory, f"e{engine_index}w{writer_index}")
                for engine_index, factory in enumerate(factories)
                for writer_index in range(writers_per_engine)
            )
        )
    finally:
        await other_engine.dispose()
    report = await assert_intact(session_factory)
    expected = len(factories) * writers_per_engine * writes_per_writer * 2
    assert report.entries == report.head.seq == expected
    async with session_factory() as session:
        seqs = list((await session.execute(select(AuditChainRow.seq).order_by(AuditChainRow.seq))).scalars())
    assert seqs == list(range(1, expected + 1))


async def test_rows_existing_at_upgrade_are_sealed(database_url: str, clock: FakeClock) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0007"))
        session_factory = create_session_factory(engine)
        run_id = await _new_run(session_factory, clock)

        def old_rows(connection: Connection) -> None:
            # Written by a version without the chain: plain inserts, no session events involved.
            connection.execute(
                text(
                    "INSERT INTO tool_calls (run_id, tool_call_id, tool_name, args_json, verdict, rule, reason,"
                    " status, items, estimated_cost_usd, requested_at) VALUES (:run_id, 'old-1', 't', '{}',"
                    " 'allow', 'r', '', 'succeeded', 1, 0, :now)"
                ),
                {"run_id": run_id, "now": clock().replace(tzinfo=None)},
            )

        async with engine.begin() as connection:
            await connection.run_sync(old_rows)
        await upgrade_database(engine)
        report = await assert_intact(session_factory)
        assert (report.entries, report.records) == (1, 1)
        await _raw(engine, "UPDATE tool_calls SET status = 'failed'")
        assert _only(await verify_audit_chain(session_factory)).endswith("in: status")
    finally:
        await engine.dispose()
