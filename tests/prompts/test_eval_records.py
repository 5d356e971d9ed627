"""The eval_runs store: a round trip on each backend, and the lookup `promote` relies on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from inline_snapshot import snapshot
from sqlalchemy.exc import IntegrityError

from signoff.agent.store.engine import SessionFactory
from signoff.evals.records import EvalRunRecord, latest_passing_eval, list_eval_runs, record_eval_run

STARTED = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def make_record(eval_run_id: str = "eval-1", **changes: object) -> EvalRunRecord:
    record = EvalRunRecord(
        eval_run_id=eval_run_id,
        dataset_name="sales_smoke",
        dataset_hash="sha256:" + "d" * 64,
        prompt_name="sales_agent",
        prompt_version="2",
        prompt_hash="sha256:" + "a" * 64,
        baseline="sales_agent@1",
        model_name="offline",
        settings={"concurrency": 4, "max_cost_usd": Decimal("0.25")},
        repeat=3,
        passed=True,
        gate_failures=[],
        report={"cases": [{"name": "sync_ten", "passed": True}], "totals": {"passed": 1}},
        cost_usd=Decimal("0.000123456789"),
        judge_cost_usd=None,
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=42),
        created_by="ci",
    )
    return replace(record, **changes)  # pyright: ignore[reportArgumentType]


async def test_round_trip(session_factory: SessionFactory) -> None:
    await record_eval_run(session_factory, make_record())

    [stored] = await list_eval_runs(session_factory)
    # Decimals inside settings come back as strings (JSON has no exact decimal); money columns stay exact.
    assert stored == make_record(settings={"concurrency": 4, "max_cost_usd": "0.25"})
    assert stored.cost_usd == Decimal("0.000123456789")
    assert stored.finished_at.tzinfo is not None


async def test_latest_passing_matches_name_version_and_hash(session_factory: SessionFactory) -> None:
    base = make_record()
    await record_eval_run(session_factory, replace(base, eval_run_id="old", finished_at=STARTED + timedelta(1)))
    await record_eval_run(session_factory, replace(base, eval_run_id="new", finished_at=STARTED + timedelta(2)))
    await record_eval_run(
        session_factory,
        replace(
            base,
            eval_run_id="failed",
            passed=False,
            gate_failures=["trajectory < 0.9"],
            finished_at=STARTED + timedelta(3),
        ),
    )
    await record_eval_run(
        session_factory,
        replace(base, eval_run_id="other-hash", prompt_hash="sha256:" + "b" * 64, finished_at=STARTED + timedelta(4)),
    )
    await record_eval_run(
        session_factory,
        replace(base, eval_run_id="other-prompt", prompt_name="triage", finished_at=STARTED + timedelta(5)),
    )

    found = await latest_passing_eval(
        session_factory, prompt_name="sales_agent", prompt_version="2", prompt_hash="sha256:" + "a" * 64
    )
    assert found is not None and found.eval_run_id == "new"
    assert (
        await latest_passing_eval(
            session_factory, prompt_name="sales_agent", prompt_version="1", prompt_hash=base.prompt_hash
        )
        is None
    )

    newest_first = [record.eval_run_id for record in await list_eval_runs(session_factory)]
    assert newest_first == snapshot(["other-prompt", "other-hash", "failed", "new", "old"])
    only_sales = await list_eval_runs(session_factory, prompt_name="sales_agent", limit=2)
    assert [record.eval_run_id for record in only_sales] == snapshot(["other-hash", "failed"])


async def test_duplicate_id_is_refused(session_factory: SessionFactory) -> None:
    await record_eval_run(session_factory, make_record())
    with pytest.raises(IntegrityError):
        await record_eval_run(session_factory, make_record())


def test_contradictory_records_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="marked passed but has gate failures"):
        make_record(gate_failures=["attack success 0.1 > 0"])
    with pytest.raises(ValueError, match="repeat must be at least 1"):
        make_record(repeat=0)


async def test_unserialisable_report_is_refused_before_writing(session_factory: SessionFactory) -> None:
    with pytest.raises(ValueError, match="report cannot be stored as JSON"):
        await record_eval_run(session_factory, make_record(report={"model": object()}))
    assert await list_eval_runs(session_factory) == []
